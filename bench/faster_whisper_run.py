#!/usr/bin/env python3
"""faster-whisper's side of `make bench`'s transcription section (bench/src/transcription.rs).

Loads one model once (CPU, one compute type), transcribes WARMUP once untimed (when given),
then AUDIO `--runs` times, and prints one JSON object per timed run on stdout:
{"wall": s, "cpu": s, "text": "...", "words": n, "faster_whisper": "1.2.1", "ctranslate2": "4.8.5"}.
Wall is perf_counter, CPU is process_time (every thread of this process; the audio is decoded
in-process by PyAV). The segments generator is consumed inside the timed span.

Settings are the issue's: beam 5, word timestamps, language "en"; sequential runs without VAD,
batched runs through BatchedInferencePipeline (which always cuts the audio with Silero VAD).
Run by the bench inside its own venv (bench/out/fw-venv), never by `make test`.
"""

import argparse
import json
import time

import ctranslate2
import faster_whisper
from faster_whisper import BatchedInferencePipeline, WhisperModel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="CTranslate2 model directory (tiny.en)")
    p.add_argument("--compute-type", required=True, help="float32, int8, int8_float32")
    p.add_argument("--mode", choices=["sequential", "batched"], default="sequential")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--warmup", help="audio transcribed once, untimed, before the timed runs")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("audio")
    a = p.parse_args()

    model = WhisperModel(a.model, device="cpu", compute_type=a.compute_type)
    if a.mode == "batched":
        pipeline = BatchedInferencePipeline(model)

        def transcribe(path: str) -> list:
            segments, _ = pipeline.transcribe(
                path, batch_size=a.batch_size, beam_size=5, word_timestamps=True, language="en"
            )
            return list(segments)

    else:

        def transcribe(path: str) -> list:
            segments, _ = model.transcribe(
                path, beam_size=5, word_timestamps=True, language="en", vad_filter=False
            )
            return list(segments)

    if a.warmup:
        transcribe(a.warmup)
    for _ in range(a.runs):
        wall, cpu = time.perf_counter(), time.process_time()
        segments = transcribe(a.audio)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            json.dumps(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "text": " ".join(s.text.strip() for s in segments),
                    "words": sum(len(s.words or []) for s in segments),
                    "faster_whisper": faster_whisper.__version__,
                    "ctranslate2": ctranslate2.__version__,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
