#!/usr/bin/env bash
# CTranslate2 for gpu-worker: the shared library of the PyPI `ctranslate2` wheel, which the
# ct2rs crate links in its `system` mode (gpu-worker/Cargo.toml). It is the build
# faster-whisper runs: oneDNN and Intel MKL GEMMs (MKL on Intel CPUs, oneDNN elsewhere),
# GNU OpenMP threads, and CUDA 12 with cuBLAS loaded at run time (no cuDNN). Nothing is
# compiled. Idempotent: a directory holding a `.complete` marker is kept.
#
#   scripts/ctranslate2.sh [DIR]     DIR defaults to $CT2_LIB_DIR (scripts/env.sh:
#                                    $API_GPU_CACHE/ctranslate2-<version>)
#
# DIR gets the wheel's `ctranslate2.libs/*` (libctranslate2-<hash>.so.<version> and the
# libgomp it needs, found through its $ORIGIN rpath), a `libctranslate2.so` link for the
# linker, and empty archives for the libraries ct2rs 0.10.3's `system` mode asks for
# although the wheel's library already holds them (cpu_features, cudart) or the build
# does not use them (cuBLAS static: only linked when `cuda-dynamic-loading` is off, even
# on CPU builds). The version must be the CTranslate2 that ct2rs vendors (its headers
# compile the bridge): ct2rs 0.10.3 vendors 4.8.4, and both are pinned together.
set -euo pipefail
source "$(dirname "$0")/env.sh"
CT2_VERSION=4.8.4
DIR="${1:-$CT2_LIB_DIR}"
say() { printf '\033[1m[ctranslate2]\033[0m %s\n' "$*"; }

complete() { [ -f "$1/.complete" ] && [ -e "$1/libctranslate2.so" ] && [ -s "$(readlink -f "$1/libctranslate2.so")" ]; }
if complete "$DIR"; then exit 0; fi

say "installing libctranslate2 $CT2_VERSION from the PyPI wheel into $DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The platform and Python tags make the download the same wherever it runs; the library
# inside is the same in every cp3xx wheel.
python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
  --python-version 3.12 -d "$tmp" "ctranslate2==$CT2_VERSION"
rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
python3 - "$tmp"/ctranslate2-"$CT2_VERSION"-*.whl "$DIR.tmp" <<'PY'
import sys, zipfile, os, shutil
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith("ctranslate2.libs/") and not info.is_dir():
            with z.open(info) as src, open(os.path.join(dest, os.path.basename(info.filename)), "wb") as out:
                shutil.copyfileobj(src, out)
PY
lib=$(cd "$DIR.tmp" && ls libctranslate2-*.so."$CT2_VERSION")
[ -n "$lib" ] || { echo "the ctranslate2 $CT2_VERSION wheel holds no libctranslate2-*.so.$CT2_VERSION" >&2; exit 1; }
ln -sf "$lib" "$DIR.tmp/libctranslate2.so"
for l in cpu_features cudart_static cublas_static cublasLt_static culibos; do
  rm -f "$DIR.tmp/lib$l.a" && ar rc "$DIR.tmp/lib$l.a"
done
touch "$DIR.tmp/.complete"
rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
say "libctranslate2 $CT2_VERSION ready in $DIR ($lib)"
