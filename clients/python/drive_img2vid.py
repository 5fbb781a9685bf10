"""One img2vid job through the Python client openapi-python-client generated from the
edge's /openapi.json (scripts/test-clients.sh installs it as `api_gpu_client`).

Usage: drive_img2vid.py IMAGE_KEY OUTPUT_PATH OUT_DIR — with EDGE_URL and API_KEY in the environment.
Submits one 2 s clip of the uploaded image, polls the job to COMPLETED, downloads the
clip through the download URL the job gives and checks it with ffprobe: what a user of
the generated client would do and look at.
"""

import json
import os
import subprocess
import sys
import time

import httpx
from api_gpu_client import AuthenticatedClient
from api_gpu_client.api.jobs import get_job
from api_gpu_client.api.video import video_img2vid
from api_gpu_client.models import ImageItem, Img2VidRequest, JobStatus, JobView

TERMINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT}


def fail(message: str) -> None:
    print(f"drive_img2vid: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    key, output_path, out_dir = sys.argv[1:4]
    # `Authorization: Bearer <key>`, the client's default scheme (the API takes it beside X-API-Key).
    client = AuthenticatedClient(base_url=os.environ["EDGE_URL"], token=os.environ["API_KEY"], raise_on_unexpected_status=True)
    # No `id`, no `easing`: optional fields stay out of the request.
    body = Img2VidRequest(
        images=[ImageItem(image_url=f"r2://{key}", duracao=2.0)],
        width=320,
        height=240,
        frame_rate=12,
        path=output_path,
    )
    sent = body.to_dict()
    if "easing" in sent or any("id" in i or "easing" in i for i in sent["images"]):
        fail(f"the client sends fields the user left out: {sent}")
    answer = video_img2vid.sync_detailed(client=client, body=body)
    if answer.status_code != 202 or not isinstance(answer.parsed, JobView):
        fail(f"submit answered {answer.status_code}: {answer.content!r}")
    job = answer.parsed
    print(f"drive_img2vid: POST /video/img2vid → 202, job {job.job_id} {job.status.value}")
    deadline = time.monotonic() + 180
    while job.status not in TERMINAL:
        if time.monotonic() > deadline:
            fail(f"job {job.job_id} still {job.status.value} after 180 s")
        time.sleep(0.5)
        got = get_job.sync_detailed(job.job_id, client=client)
        if got.status_code != 200 or not isinstance(got.parsed, JobView):
            fail(f"GET /jobs/{job.job_id} answered {got.status_code}: {got.content!r}")
        job = got.parsed
    if job.status != JobStatus.COMPLETED:
        error = job.error.to_dict() if job.error else None
        fail(f"job ended {job.status.value}: {error}")
    result = job.result
    if not isinstance(result, dict) or not result.get("videos"):
        fail(f"no videos in the result: {json.dumps(result)[:500]}")
    video = result["videos"][0]
    clip = os.path.join(out_dir, "clip.mp4")
    with httpx.stream("GET", video["video_url"], timeout=30) as r:
        if r.status_code != 200:
            fail(f"GET of the clip's URL answered {r.status_code}")
        with open(clip, "wb") as f:
            f.writelines(r.iter_bytes())
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height:format=duration",
            "-of",
            "json",
            clip,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(probe.stdout)
    stream, duration = info["streams"][0], float(info["format"]["duration"])
    if (stream["codec_name"], stream["width"], stream["height"]) != ("h264", 320, 240) or abs(duration - 2.0) > 0.1:
        fail(f"the clip is not a 2 s 320x240 H.264 video: {info}")
    print(f"drive_img2vid: COMPLETED; {video['s3_key']}: h264 320x240, {duration:.2f} s, {os.path.getsize(clip)} bytes")


if __name__ == "__main__":
    main()
