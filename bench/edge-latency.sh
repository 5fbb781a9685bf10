#!/usr/bin/env bash
# Edge latency on the local stack (workerd under `wrangler dev`, local Durable Objects):
# p50/p99 of `POST /video/img2vid` and `GET /jobs/{id}` with ApacheBench, each run
# bounded in time. Not part of `make test`.
#
#   bench/edge-latency.sh [SECONDS=15] [CONCURRENCY=4]
#
# The submitted jobs reference an object that does not exist, so the GPU worker fails
# them at once (input-not-found) and the machine's cores stay with the edge.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}; CONC=${2:-4}
if ! command -v ab >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends apache2-utils >/dev/null
fi
make -s build
export DEV_RATE_LIMIT=1000000
scripts/with-stack.sh bash -c '
  set -euo pipefail
  out=$(mktemp -d)
  printf "%s" "{\"images\":[{\"image_url\":\"r2://${TENANT_PREFIX}bench/missing.jpg\",\"duracao\":1}],\"width\":320,\"height\":240}" >"$out/body.json"
  id=$(curl -sf -H "x-api-key: $API_KEY" -H "content-type: application/json" --data @"$out/body.json" "$EDGE_URL/video/img2vid" | jq -r .jobId)
  run() { # name, ab args…
    local label=$1 name; shift
    name=$(printf "%s" "$label" | tr -c "a-zA-Z0-9" _)
    ab -q -k -t "'"$SECS"'" -n 1000000 -c "'"$CONC"'" -e "$out/$name.csv" -H "x-api-key: $API_KEY" "$@" >"$out/$name.txt" 2>&1 || { cat "$out/$name.txt"; exit 1; }
    local n fail rps p50 p99
    n=$(awk "/^Complete requests/ {print \$3}" "$out/$name.txt")
    fail=$(awk "/^Non-2xx responses/ {print \$3} /^Failed requests/ {f=\$3} END {}" "$out/$name.txt" | head -1)
    rps=$(awk "/^Requests per second/ {print \$4}" "$out/$name.txt")
    p50=$(awk -F, "\$1==50 {print \$2}" "$out/$name.csv"); p99=$(awk -F, "\$1==99 {print \$2}" "$out/$name.csv")
    printf "%-34s %8s req  %8s req/s  p50 %6.1f ms  p99 %6.1f ms  non-2xx %s\n" "$label" "$n" "$rps" "$p50" "$p99" "${fail:-0}"
  }
  # wrangler dev answers on a proxy Worker (its own workerd, which hands every request
  # to one Durable Object of its own) in front of the workerd running ours: the rows
  # "direct" ask our workerd itself, on the port it listens on (found by asking each
  # workerd port for our GET /).
  direct=""
  for port in $(ss -ltnp 2>/dev/null | awk "/workerd/ {print \$4}" | sed "s/.*://"); do
    [ "http://127.0.0.1:$port" = "$EDGE_URL" ] && continue
    if curl -s -m 1 "http://127.0.0.1:$port/" | grep -q "\"name\":\"api-gpu\""; then direct="http://127.0.0.1:$port"; break; fi
  done
  # One submission every 0.3 s (curl, a new connection each): the request path alone,
  # with the previous job'"'"'s own work (alarm, worker, callbacks) mostly done.
  paced() { # label base
    for _ in $(seq 40); do
      curl -s -o /dev/null -w "%{time_total}\n" -H "x-api-key: $API_KEY" -H "content-type: application/json" --data @"$out/body.json" "$2/video/img2vid"
      sleep 0.3
    done | sort -n | awk -v l="$1" "{a[NR]=\$1*1000} END {printf \"%-34s %8d req  %14s  p50 %6.1f ms  p90 %6.1f ms\n\", l, NR, \"(paced)\", a[int(NR/2)], a[int(NR*0.9)]}"
  }
  echo "edge latency, loopback, concurrency '"$CONC"', '"$SECS"' s per route ($(nproc) cores)"
  for base in "$EDGE_URL" $direct; do
    via=$([ "$base" = "$EDGE_URL" ] && echo "via wrangler" || echo "direct")
    # The floor: the same path and runtime, no Durable Object.
    run "GET / (no object), $via" "$base/"
    run "POST /video/img2vid, $via" -p "$out/body.json" -T application/json "$base/video/img2vid"
    run "GET /jobs/{id}, $via" "$base/jobs/$id"
  done
  if [ "'"$CONC"'" = 1 ]; then
    for base in "$EDGE_URL" $direct; do
      paced "POST /video/img2vid, $([ "$base" = "$EDGE_URL" ] && echo "via wrangler" || echo "direct")" "$base"
    done
  fi
  ls -l edge/build/index_bg.wasm | awk "{printf \"edge wasm: %.2f MiB (%d bytes)\n\", \$5/1048576, \$5}"
  gzip -9 -c edge/build/index_bg.wasm | wc -c | awk "{printf \"edge wasm gzip -9: %.2f MiB\n\", \$1/1048576}"
'
