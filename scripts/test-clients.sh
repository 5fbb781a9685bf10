#!/usr/bin/env bash
# Clients generated from /openapi.json work (issue 16 item 5), as a new user would try
# them, against the local stack (run inside scripts/with-stack.sh: EDGE_URL, API_KEY,
# TENANT_PREFIX and the S3 settings come from its dev.env):
#   1. the document validates (openapi-spec-validator, OpenAPI 3.1);
#   2. openapi-python-client generates a client with no warning (a warning means a schema
#      it could not read was dropped), the client is pip-installed and drives one img2vid
#      job to COMPLETED; the clip is downloaded through the job's URL and probed
#      (clients/python/drive_img2vid.py);
#   3. openapi-typescript generates the types, and tsc --strict checks against them every
#      request example of README.md (clients/ts/readme_examples.py) and the requests and
#      refusals of clients/ts/examples.ts.
# The tools are pinned and installed once into $API_GPU_CACHE/clients-venv and
# $API_GPU_CACHE/clients-node (a stamp file holds what was installed).
set -euo pipefail
: "${EDGE_URL:?run inside scripts/with-stack.sh}"
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
say() { printf '\033[1m[clients]\033[0m %s\n' "$*"; }

PY_TOOLS="openapi-python-client==0.29.1 openapi-spec-validator==0.9.0 setuptools==80.9.0"
NPM_TOOLS="openapi-typescript@7.13.0 typescript@5.9.3"
VENV="$API_GPU_CACHE/clients-venv"
NODE_DIR="$API_GPU_CACHE/clients-node"

if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$PY_TOOLS" ]; then
  say "installing $PY_TOOLS into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" \
    || { rm -rf "$VENV"; echo "python3 -m venv failed: on Debian, apt-get install python3-venv" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet $PY_TOOLS
  echo "$PY_TOOLS" >"$VENV/.installed"
fi
if [ "$(cat "$NODE_DIR/.installed" 2>/dev/null)" != "$NPM_TOOLS" ]; then
  say "installing $NPM_TOOLS into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  [ -f "$NODE_DIR/package.json" ] || echo '{"name": "api-gpu-clients", "private": true}' >"$NODE_DIR/package.json"
  # shellcheck disable=SC2086
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund --save-exact $NPM_TOOLS)
  echo "$NPM_TOOLS" >"$NODE_DIR/.installed"
fi
# ruff (installed with openapi-python-client) formats the generated client; it must be on PATH.
export PATH="$VENV/bin:$PATH"

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
curl -fsS -o "$WORK/openapi.json" "$EDGE_URL/openapi.json"
openapi-spec-validator "$WORK/openapi.json" >/dev/null
say "GET /openapi.json: valid OpenAPI $(jq -r .openapi "$WORK/openapi.json"), $(jq '.paths | length' "$WORK/openapi.json") paths"

# --- Python: generate, install, run one job.
(cd "$WORK" && openapi-python-client generate --path openapi.json --meta setup --output-path py-client --fail-on-warning) \
  >"$WORK/py-gen.log" 2>&1 || { cat "$WORK/py-gen.log" >&2; say "openapi-python-client failed" >&2; exit 1; }
if grep -qi 'warning' "$WORK/py-gen.log"; then
  cat "$WORK/py-gen.log" >&2; say "openapi-python-client warned: a schema was skipped" >&2; exit 1
fi
# The venv holds the build backend (setuptools), so no build environment is downloaded.
pip install --quiet --no-deps --no-build-isolation --force-reinstall "$WORK/py-client"
say "openapi-python-client: $(find "$WORK/py-client/api_gpu_client/models" -name '*.py' | wc -l) model modules, installed as api_gpu_client"

RUN="clients-$(date +%Y%m%d-%H%M%S)-$$"
KEY="${TENANT_PREFIX}inputs/$RUN/photo.jpg"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=s=640x480" -frames:v 1 "$WORK/photo.jpg"
curl -fsS -o /dev/null --aws-sigv4 "aws:amz:auto:s3" -u "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$WORK/photo.jpg" "$S3_ENDPOINT/$S3_BUCKET/$KEY"
python clients/python/drive_img2vid.py "$KEY" "tests/$RUN" "$WORK"

# --- TypeScript: generate the types, type-check the README's examples and ours.
mkdir "$WORK/ts"
(cd "$NODE_DIR" && node_modules/.bin/openapi-typescript "$WORK/openapi.json" -o "$WORK/ts/api.d.ts") >"$WORK/ts-gen.log" 2>&1 \
  || { cat "$WORK/ts-gen.log" >&2; exit 1; }
# It prints its banner (✨) and the file it wrote (🚀); anything else is a warning.
if grep -qvE '^(✨|🚀) ' "$WORK/ts-gen.log"; then cat "$WORK/ts-gen.log" >&2; say "openapi-typescript warned" >&2; exit 1; fi
python3 clients/ts/readme_examples.py README.md "$WORK/ts/readme.ts" | sed 's/^/[clients]   /'
cp clients/ts/examples.ts "$WORK/ts/"
"$NODE_DIR/node_modules/.bin/tsc" --strict --noEmit --target es2022 --module esnext --moduleResolution bundler \
  "$WORK/ts/readme.ts" "$WORK/ts/examples.ts"
say "openapi-typescript + tsc --strict: the README's examples and clients/ts/examples.ts type-check"
