#!/usr/bin/env bash
# Checks `make dev`'s promise: SIGTERM stops every process it started (no orphans), and a
# second start on the same ports and state folder works right after.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
export LOCAL_DIR="$REPO_ROOT/.local/lifecycle-$$"
rm -rf "$LOCAL_DIR"; mkdir -p "$LOCAL_DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export S3_PORT=$(free_port) WORKER_PORT=$(free_port) EDGE_PORT=$(free_port) INSPECTOR_PORT=$(free_port)
fail() { echo "FAIL: $*" >&2; tail -n 20 "$LOCAL_DIR"/logs/*.log >&2 || true; exit 1; }

# Every process whose command line mentions our state folder or ports.
ours() { pgrep -f -- "$LOCAL_DIR|--port $S3_PORT|--port $WORKER_PORT|--port $EDGE_PORT" || true; }

for round in 1 2; do
  scripts/dev.sh >"$LOCAL_DIR/round$round.out" 2>&1 &
  DEV=$!
  for _ in $(seq 300); do [ -f "$LOCAL_DIR/ready" ] && break; kill -0 $DEV 2>/dev/null || fail "round $round: stack exited early"; sleep 0.5; done
  [ -f "$LOCAL_DIR/ready" ] || fail "round $round: not ready"
  source "$LOCAL_DIR/dev.env"
  for k in EDGE_URL API_KEY API_KEY_2 S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY WEBHOOK_SECRET WEBHOOK_SECRET_2; do
    grep -q "^$k=." "$LOCAL_DIR/dev.env" || fail "dev.env lacks $k"
  done
  curl -fsS "$EDGE_URL/health" >/dev/null || fail "round $round: edge not healthy"
  [ -n "$(ours)" ] || fail "round $round: no stack processes found"
  kill -TERM $DEV; wait $DEV || true
  for _ in $(seq 50); do [ -z "$(ours)" ] && break; sleep 0.2; done
  [ -z "$(ours)" ] || fail "round $round: processes left after SIGTERM: $(ours | xargs ps -o pid,cmd -p)"
  echo "round $round: started on :$EDGE_PORT, stopped cleanly"
done
rm -rf "$LOCAL_DIR"
echo "stack lifecycle: ok"
