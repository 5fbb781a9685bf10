#!/usr/bin/env bash
# The local stack on loopback: s3s-fs (a real S3 server that verifies SigV4),
# `gpu-worker serve` (RunPod's REST shape), and `wrangler dev` (workerd, Durable Objects
# persisted to disk). Writes $LOCAL_DIR/dev.env, prints it, and stops every process it
# started on Ctrl-C or SIGTERM. s3s-fs, gpu-worker and wrangler are restarted when they die
# (pids and hold files below: `supervised`).
#
#   LOCAL_DIR   state folder (default .local)
#   DEV_RATE_LIMIT  the first tenant's requests per minute (default 600; benchmarks raise it)
#   EPHEMERAL=1 pick free ports (tests); otherwise S3_PORT=9000 WORKER_PORT=8000 EDGE_PORT=8787
#   WORKER_PROFILE  the gpu-worker build to run: debug (default; what `make test` builds)
#               or release (`make dev` and `make demo`: renders and transcribes several
#               times faster, so timings and your own media behave as in production)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
LOCAL_DIR="$(mkdir -p "${LOCAL_DIR:-.local}" && cd "${LOCAL_DIR:-.local}" && pwd)"
mkdir -p "$LOCAL_DIR/logs" "$LOCAL_DIR/s3" "$LOCAL_DIR/wrangler"
rm -f "$LOCAL_DIR/ready"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ "${EPHEMERAL:-0}" = 1 ]; then
  S3_PORT=$(free_port); WORKER_PORT=$(free_port); EDGE_PORT=$(free_port); INSPECTOR_PORT=$(free_port)
else
  S3_PORT=${S3_PORT:-9000}; WORKER_PORT=${WORKER_PORT:-8000}; EDGE_PORT=${EDGE_PORT:-8787}; INSPECTOR_PORT=${INSPECTOR_PORT:-9229}
fi

# Secrets are generated once per LOCAL_DIR, so data persisted there stays reachable.
rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
b64rand() { head -c 24 /dev/urandom | base64 | tr -d '\n'; }
if [ ! -f "$LOCAL_DIR/secrets.env" ]; then
  umask 077
  cat >"$LOCAL_DIR/secrets.env" <<EOT
S3_ACCESS_KEY=AK$(rand 8)
S3_SECRET_KEY=$(rand 20)
S3_BUCKET=media
API_KEY=agk_$(rand 16)
API_KEY_2=agk_$(rand 16)
API_KEY_3=agk_$(rand 16)
WEBHOOK_SECRET=whsec_$(b64rand)
WEBHOOK_SECRET_2=whsec_$(b64rand)
WEBHOOK_SECRET_3=whsec_$(b64rand)
RUNPOD_API_KEY=rp_$(rand 16)
WEBHOOK_TOKEN_SECRET=$(rand 32)
EOT
fi
source "$LOCAL_DIR/secrets.env"
# State folders made before the third tenant existed.
if [ -z "${API_KEY_3:-}" ]; then
  printf 'API_KEY_3=agk_%s\nWEBHOOK_SECRET_3=whsec_%s\n' "$(rand 16)" "$(b64rand)" >>"$LOCAL_DIR/secrets.env"
  source "$LOCAL_DIR/secrets.env"
fi
mkdir -p "$LOCAL_DIR/s3/$S3_BUCKET"

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0; for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -f "$LOCAL_DIR/ready"
  echo "[dev] stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each service in its own process group, so stopping it stops its children too.
start() { local name=$1; shift; setsid "$@" >"$LOCAL_DIR/logs/$name.log" 2>&1 & PIDS+=($!); }

# `supervised NAME CMD…`: a service that is restarted 0.3 s after it dies (as RunPod
# replaces a dead worker; the fault tests kill services mid-job). CMD runs in a process
# group of its own whose id is in $LOCAL_DIR/NAME.pid (`kill -KILL -- -$(cat NAME.pid)`
# stops it and its children); while $LOCAL_DIR/NAME.hold exists it is not restarted. One
# that dies before the stack is ready is not restarted either (dev.sh then stops with its
# log). Stopping the supervisor (TERM) stops CMD's group too.
SUPERVISE='name=$1 dir=$2; shift 2; child=
  stop() { trap - TERM INT
    if [ -n "$child" ]; then kill -TERM -- "-$child" 2>/dev/null
      for _ in $(seq 30); do kill -0 -- "-$child" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$child" 2>/dev/null; fi
    exit 0; }
  trap stop TERM INT
  while :; do
    while [ -e "$dir/$name.hold" ]; do sleep 0.1; done
    setsid "$@" & child=$!
    echo "$child" >"$dir/$name.pid"
    status=0; wait "$child" || status=$?
    kill -KILL -- "-$child" 2>/dev/null || true   # what it left behind in its group
    # Dying before the stack is ready is a failure to start: dev.sh reports it.
    [ -e "$dir/ready" ] || exit "$status"
    echo "[dev] $name exited; restarting" >&2; sleep 0.3
  done'
supervised() { local name=$1; shift; rm -f "$LOCAL_DIR/$name.hold" "$LOCAL_DIR/$name.pid"; start "$name" bash -c "$SUPERVISE" supervise "$name" "$LOCAL_DIR" "$@"; }

supervised s3 s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$LOCAL_DIR/s3"

# gpu-worker serve stands in for RunPod. Like RunPod replacing a dead worker, it is
# restarted if it dies (tests kill it mid-job); its pid is kept in gpu-worker.pid.
# Transcription models: those scripts/models.sh installed (tiny.en, base), tiny.en by
# default (the fastest on CPU); WHISPER_DEFAULT_MODEL=base in the environment overrides.
# The seed's model names (large-v3, turbo, medium, …) run on the multilingual base here, so
# its documented requests (Portuguese, "model": "large-v3") work unedited.
WHISPER_MODEL_ALIASES="${WHISPER_MODEL_ALIASES:-large-v3=base,large-v3-turbo=base,turbo=base,large=base,medium=base,small=base,tiny=base}"
# PROVIDER_STUB=1 (make test-e2e) also points the worker's YouTube at YOUTUBE_STUB_PORT on
# loopback, where edge/tests/e2e_youtube.rs serves the player and timedtext endpoints.
YOUTUBE_ENV=()
if [ "${PROVIDER_STUB:-0}" = 1 ]; then
  YOUTUBE_STUB_PORT=$(free_port)
  YOUTUBE_ENV=(YOUTUBE_BASE_URL="http://127.0.0.1:$YOUTUBE_STUB_PORT")
fi
WORKER_BIN="$CARGO_TARGET_DIR/${WORKER_PROFILE:-debug}/gpu-worker"
[ -x "$WORKER_BIN" ] || { echo "no gpu-worker at $WORKER_BIN: build it first (make build, or make worker-release)" >&2; exit 1; }
supervised gpu-worker env "${YOUTUBE_ENV[@]}" ALLOW_LOOPBACK_HTTP=1 WORK_DIR="$LOCAL_DIR/work" RUST_LOG="${RUST_LOG:-info}" \
  WHISPER_MODELS_DIR="${WHISPER_MODELS_DIR:-$API_GPU_CACHE/models}" WHISPER_DEFAULT_MODEL="${WHISPER_DEFAULT_MODEL:-tiny.en}" \
  WHISPER_MODEL_ALIASES="$WHISPER_MODEL_ALIASES" \
  "$WORKER_BIN" serve --host 127.0.0.1 --port "$WORKER_PORT" --endpoint-id local \
  --api-key "$RUNPOD_API_KEY" --webhook-retry-delay-secs 2

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# Two tenants, plus a third with a tiny rate limit that the tests use to see 429s.
TENANTS=$(jq -cn --argjson rate "${DEV_RATE_LIMIT:-600}" --arg k1 "$(sha "$API_KEY")" --arg k2 "$(sha "$API_KEY_2")" --arg k3 "$(sha "$API_KEY_3")" \
  --arg w1 "$WEBHOOK_SECRET" --arg w2 "$WEBHOOK_SECRET_2" --arg w3 "$WEBHOOK_SECRET_3" \
  '[{name:"dev", key_sha256:$k1, prefix:"tenants/dev/", webhook_secret:$w1, rate_limit_per_minute:$rate, max_concurrent_jobs:4},
    {name:"dev2", key_sha256:$k2, prefix:"tenants/dev2/", webhook_secret:$w2, rate_limit_per_minute:600, max_concurrent_jobs:2},
    {name:"dev-limited", key_sha256:$k3, prefix:"tenants/dev3/", webhook_secret:$w3, rate_limit_per_minute:2, max_concurrent_jobs:1}]')
umask 077
cat >"$LOCAL_DIR/edge.env" <<EOT
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
S3_BUCKET=$S3_BUCKET
S3_ACCESS_KEY=$S3_ACCESS_KEY
S3_SECRET_KEY=$S3_SECRET_KEY
RUNPOD_BASE_URL=http://127.0.0.1:$WORKER_PORT
RUNPOD_ENDPOINT_ID=local
RUNPOD_API_KEY=$RUNPOD_API_KEY
EDGE_PUBLIC_URL=http://127.0.0.1:$EDGE_PORT
WEBHOOK_TOKEN_SECRET=$WEBHOOK_TOKEN_SECRET
TENANTS=$TENANTS
ALLOW_LOOPBACK_HTTP=true
STATUS_POLL_SECS=3
# Production schedules are minutes; here seconds, so a full cycle fits in a test.
MAX_ATTEMPTS=3
RETRY_BASE_SECS=1
RETRY_MAX_SECS=4
WEBHOOK_RETRY_BASE_SECS=1
WEBHOOK_RETRY_MAX_SECS=8
WEBHOOK_RETRY_WINDOW_SECS=120
WEBHOOK_TIMEOUT_SECS=5
LEASE_TTL_SECS=15
FANOUT_CLIPS=2
CORS_ORIGINS=http://localhost:3000
EOT

# --- AI providers (issue 14; edge/tests/common/provider_stub.rs) -----------------------
# PROVIDER_STUB=1 (make test-e2e): the edge's OpenRouter and Runware base URLs point at
# PROVIDER_STUB_PORT on loopback, where the e2e binaries that need them (e2e_images,
# e2e_seeds) serve both in the providers' documented shapes while they run. Without it no provider key is set, and /image/prompts and
# /image/generate answer 503 provider-not-configured (the demo runs offline).
if [ "${PROVIDER_STUB:-0}" = 1 ]; then
  PROVIDER_STUB_PORT=$(free_port); OPENROUTER_STUB_KEY=sk-or-stub-$(rand 8); RUNWARE_STUB_KEY=rw-stub-$(rand 8)
  cat >>"$LOCAL_DIR/edge.env" <<EOT
OPENROUTER_API_KEY=$OPENROUTER_STUB_KEY
OPENROUTER_MODEL=stub/model
OPENROUTER_BASE_URL=http://127.0.0.1:$PROVIDER_STUB_PORT/openrouter
RUNWARE_API_KEY=$RUNWARE_STUB_KEY
RUNWARE_BASE_URL=http://127.0.0.1:$PROVIDER_STUB_PORT/runware
PROVIDER_TIMEOUT_SECS=10
PROVIDER_RETRY_BASE_SECS=1
PROVIDER_RETRY_MAX_SECS=4
EOT
fi
# --- end AI providers -------------------------------------------------------------------

# Restarted like the others on the same port and --persist-to folder: jobs resume from
# their Durable Objects.
supervised edge npx --no-install wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" \
  --inspector-port "$INSPECTOR_PORT" --persist-to "$LOCAL_DIR/wrangler" \
  --env-file "$LOCAL_DIR/edge.env" --show-interactive-dev-session=false --log-level log

wait_for() { # name url [curl args…]: ready when curl succeeds
  local name=$1 url=$2; shift 2
  for _ in $(seq 240); do
    for i in "${!PIDS[@]}"; do kill -0 "${PIDS[$i]}" 2>/dev/null || { echo "[dev] a service exited; logs in $LOCAL_DIR/logs" >&2; tail -n 30 "$LOCAL_DIR"/logs/*.log >&2; exit 1; }; done
    curl -sS -o /dev/null --max-time 5 "$@" "$url" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "[dev] $name did not become ready; see $LOCAL_DIR/logs/$name.log" >&2; exit 1
}
wait_for s3 "http://127.0.0.1:$S3_PORT/"   # any HTTP answer: s3s-fs is listening
wait_for gpu-worker "http://127.0.0.1:$WORKER_PORT/v2/local/health" -f -H "Authorization: Bearer $RUNPOD_API_KEY"
wait_for edge "http://127.0.0.1:$EDGE_PORT/health" -f

cat >"$LOCAL_DIR/dev.env" <<EOT
EDGE_URL=http://127.0.0.1:$EDGE_PORT
API_KEY=$API_KEY
API_KEY_2=$API_KEY_2
WEBHOOK_SECRET=$WEBHOOK_SECRET
WEBHOOK_SECRET_2=$WEBHOOK_SECRET_2
API_KEY_3=$API_KEY_3
TENANT_PREFIX=tenants/dev/
TENANT_PREFIX_2=tenants/dev2/
TENANT_PREFIX_3=tenants/dev3/
GPU_WORKER_PIDFILE=$LOCAL_DIR/gpu-worker.pid
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
S3_BUCKET=$S3_BUCKET
S3_ACCESS_KEY=$S3_ACCESS_KEY
S3_SECRET_KEY=$S3_SECRET_KEY
RUNPOD_URL=http://127.0.0.1:$WORKER_PORT/v2/local
RUNPOD_API_KEY=$RUNPOD_API_KEY
EOT
# --- AI providers (issue 14): where e2e_images serves them, and the keys it must see. ---
if [ "${PROVIDER_STUB:-0}" = 1 ]; then
  printf 'PROVIDER_STUB_PORT=%s\nOPENROUTER_STUB_KEY=%s\nRUNWARE_STUB_KEY=%s\n' \
    "$PROVIDER_STUB_PORT" "$OPENROUTER_STUB_KEY" "$RUNWARE_STUB_KEY" >>"$LOCAL_DIR/dev.env"
  printf 'YOUTUBE_STUB_PORT=%s\n' "$YOUTUBE_STUB_PORT" >>"$LOCAL_DIR/dev.env"
fi
echo "[dev] stack ready; $LOCAL_DIR/dev.env:"
sed 's/^/  /' "$LOCAL_DIR/dev.env"
echo "[dev] logs in $LOCAL_DIR/logs; Ctrl-C stops everything"
touch "$LOCAL_DIR/ready"
# Exit (and clean up) as soon as any service dies, or on a signal.
while :; do
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "[dev] a service exited; see $LOCAL_DIR/logs" >&2; exit 1; }; done
  sleep 1 & wait $! || true
done
