#!/usr/bin/env bash
# Runs a command against a fresh local stack on free ports (its own state folder),
# with dev.env exported, then stops the stack. Exit status: the command's.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
export LOCAL_DIR="${STACK_DIR:-$REPO_ROOT/.local/stack-$$}"
rm -rf "$LOCAL_DIR"; mkdir -p "$LOCAL_DIR"
EDGE_PREBUILT=1 EPHEMERAL=1 scripts/dev.sh >"$LOCAL_DIR/dev.out" 2>&1 &
STACK=$!
stop() { kill -TERM "$STACK" 2>/dev/null || true; wait "$STACK" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 600); do
  [ -f "$LOCAL_DIR/ready" ] && break
  kill -0 "$STACK" 2>/dev/null || { echo "local stack failed to start:" >&2; cat "$LOCAL_DIR/dev.out" >&2; exit 1; }
  sleep 0.5
done
[ -f "$LOCAL_DIR/ready" ] || { echo "local stack not ready after 300 s" >&2; cat "$LOCAL_DIR/dev.out" >&2; exit 1; }
set -a; source "$LOCAL_DIR/dev.env"; set +a
export DEV_ENV="$LOCAL_DIR/dev.env"
status=0
"$@" || status=$?
if [ $status -ne 0 ]; then
  echo "--- stack logs (kept in $LOCAL_DIR/logs) ---" >&2; tail -n 40 "$LOCAL_DIR"/logs/*.log >&2 || true
else
  stop; rm -rf "$LOCAL_DIR"
fi
exit $status
