#!/usr/bin/env bash
# Runs the workflows of examples/n8n/ in a real n8n against the local stack, unedited but
# for their Input node (local media, the stack's URL, a small frame):
#
#   make -s build && scripts/with-stack.sh examples/n8n/run-local.sh
#
# n8n is not one of the project's dependencies; install it once outside the clone
# (examples/n8n/README.md says how): $API_GPU_CACHE/n8n/node_modules/.bin/n8n, or N8N_BIN
# (and N8N_NODE for the Node it needs).
# It gets a throwaway user folder (SQLite), the API key as the "api-gpu API key" Header
# Auth credential, and WEBHOOK_URL on loopback, which the local edge accepts for webhooks.
set -euo pipefail
: "${EDGE_URL:?run under scripts/with-stack.sh}"
cd "$(dirname "$0")/../.."
source scripts/env.sh
N8N="${N8N_BIN:-$API_GPU_CACHE/n8n/node_modules/.bin/n8n}"
# n8n 2.x needs Node 24: N8N_NODE=/path/to/node24/bin/node puts it first on the PATH.
if [ -n "${N8N_NODE:-}" ]; then PATH="$(dirname "$N8N_NODE"):$PATH"; fi
[ -x "$N8N" ] || { echo "no n8n at $N8N: see examples/n8n/README.md" >&2; exit 2; }
say() { printf '\033[1m[n8n]\033[0m %s\n' "$*"; }
WORK=$(mktemp -d)
N8N_PID=
cleanup() {
  if [ -n "$N8N_PID" ]; then kill -TERM "$N8N_PID" 2>/dev/null || true; wait "$N8N_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
RUN="n8n-$(date +%Y%m%d-%H%M%S)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export N8N_USER_FOLDER="$WORK/home" N8N_PORT="$PORT" N8N_LISTEN_ADDRESS=127.0.0.1 \
  WEBHOOK_URL="http://127.0.0.1:$PORT/" N8N_ENCRYPTION_KEY="local-$RUN" DB_TYPE=sqlite \
  N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false N8N_TEMPLATES_ENABLED=false \
  N8N_PERSONALIZATION_ENABLED=false \
  EXECUTIONS_DATA_SAVE_ON_SUCCESS=all N8N_LOG_LEVEL=warn
mkdir -p "$N8N_USER_FOLDER"

# Media: three pictures, an English narration, a little music, uploaded to the tenant's space.
M="$WORK/media"; mkdir -p "$M"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=s=1280x720" -frames:v 1 "$M/1.jpg"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "mandelbrot=s=960x720" -frames:v 1 "$M/2.jpg"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "smptehdbars=s=1280x720" -frames:v 1 "$M/3.png"
espeak-ng -v en -s 160 -w "$M/narration.wav" "Three pictures, one narration and some music, put together by an n8n workflow."
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "aevalsrc=0.3*sin(2*PI*220*t):s=44100:d=4" -ac 2 -c:a libmp3lame "$M/music.mp3"
KEYS="${TENANT_PREFIX}inputs/$RUN"
for f in 1.jpg 2.jpg 3.png narration.wav music.mp3; do
  curl -fsS -o /dev/null --aws-sigv4 "aws:amz:auto:s3" -u "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$M/$f" "$S3_ENDPOINT/$S3_BUCKET/$KEYS/$f"
done
NARRATION=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$M/narration.wav")
say "uploaded 3 pictures, a $(printf '%.1f' "$NARRATION") s narration and music under $KEYS/"

# The credential and the workflows, their Input node pointed at the local stack.
jq -n --arg key "$API_KEY" '[{id: "apiGpuApiKey", name: "api-gpu API key", type: "httpHeaderAuth",
  data: {name: "X-API-Key", value: $key}}]' >"$WORK/cred.json"
"$N8N" import:credentials --input="$WORK/cred.json" >/dev/null
PER=$(python3 -c "print(round($NARRATION/3, 2))")
FACELESS_INPUT=$(jq -n --arg base "$EDGE_URL" --arg keys "r2://$KEYS" --arg path "n8n/$RUN" --argjson d "$PER" '{
  api_base_url: $base, path: ($path + "/{{ $execution.id }}"),
  images: [{id: 1, image_url: ($keys + "/1.jpg"), duracao: $d}, {id: 2, image_url: ($keys + "/2.jpg"), duracao: $d},
           {id: 3, image_url: ($keys + "/3.png"), duracao: $d}],
  narration_url: ($keys + "/narration.wav"), music_url: ($keys + "/music.mp3"), width: 320, height: 180}')
POLLING_INPUT=$(jq -n --arg base "$EDGE_URL" --arg keys "r2://$KEYS" --arg path "n8n/$RUN/polling" \
  '{api_base_url: $base, audio_url: ($keys + "/narration.wav"), path: $path}')
local_copy() { # file workflow-id input-json → imported as <id>, its Input node's output replaced
  jq --arg id "$2" --arg input "=$3" '.id = $id | .nodes |= map(if .name == "Input" then .parameters.jsonOutput = $input else . end)' \
    "examples/n8n/$1" >"$WORK/$2.json"
  "$N8N" import:workflow --input="$WORK/$2.json" >/dev/null
}
local_copy faceless-video-webhooks.json facelessLocal "$FACELESS_INPUT"
local_copy transcribe-polling.json pollingLocal "$POLLING_INPUT"
say "imported the credential and both workflows into n8n $("$N8N" --version)"

"$N8N" start >"$WORK/n8n.log" 2>&1 &
N8N_PID=$!
for _ in $(seq 240); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break; sleep 0.5; done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" || { cat "$WORK/n8n.log" >&2; exit 1; }
say "n8n on :$PORT (resume URLs http://127.0.0.1:$PORT/webhook-waiting/…)"

sql() { # query → rows, from n8n's own SQLite (its sqlite3 module)
  (cd "$(dirname "$N8N")/../.." && node -e '
    const db = new (require("sqlite3").Database)(process.argv[1]);
    db.all(process.argv[2], (e, rows) => { if (e) throw e; for (const r of rows) console.log(Object.values(r).join("|")); });
  ' "$N8N_USER_FOLDER/.n8n/database.sqlite" "$1")
}
# run WORKFLOW_ID TIMEOUT_S → starts it (`n8n execute`; the server resumes its Waits) and
# waits for its execution to end; prints the status.
run() {
  local t0=$SECONDS st
  "$N8N" execute --id="$1" >"$WORK/$1.out" 2>&1 || true
  while :; do
    st=$(sql "SELECT e.status FROM execution_entity e WHERE e.workflowId = '$1' ORDER BY e.id DESC LIMIT 1")
    case $st in success|error|crashed|canceled) break;; esac
    [ $((SECONDS - t0)) -lt "$2" ] || { st="still $st after $2 s"; break; }
    sleep 2
  done
  say "$1: $st in $((SECONDS - t0)) s"
  [ "$st" = success ] || { cat "$WORK/$1.out" >&2; tail -n 30 "$WORK/n8n.log" >&2; sql "SELECT data FROM execution_data d JOIN execution_entity e ON e.id = d.executionId WHERE e.workflowId = '$1'" | cut -c1-3000 >&2; return 1; }
}
# The last node's output of the latest execution (n8n keeps it "flatted"; parse with its module).
last_output() {
  sql "SELECT d.data FROM execution_data d JOIN execution_entity e ON e.id = d.executionId WHERE e.workflowId = '$1' ORDER BY e.id DESC LIMIT 1" >"$WORK/$1.data"
  (cd "$(dirname "$N8N")/../.." && node -e '
    const { parse } = require("flatted");
    const d = parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const r = d.resultData;
    console.log(JSON.stringify(r.runData[r.lastNodeExecuted].at(-1).data.main[0][0].json));
  ' "$WORK/$1.data")
}

run facelessLocal 900
OUT=$(last_output facelessLocal)
say "faceless: $(jq -c '{final_url: (.final_url | split("?")[0]), duration, transcription}' <<<"$OUT")"
mkdir -p "out/$RUN"
curl -fsS -o "out/$RUN/final.mp4" "$(jq -r .final_url <<<"$OUT")"
PROBE=$(ffprobe -v error -show_entries stream=codec_type,width,height -show_entries format=duration -of json "out/$RUN/final.mp4")
say "  out/$RUN/final.mp4: $(jq -c '[.streams[] | {codec_type, width, height}], .format.duration' <<<"$PROBE" | tr '\n' ' ')"
jq -e '([.streams[] | select(.codec_type == "video" and .width == 320 and .height == 180)] | length == 1)
  and ([.streams[] | select(.codec_type == "audio")] | length == 1)' <<<"$PROBE" >/dev/null
jq -e '.transcription | ascii_downcase | test("pictures")' <<<"$OUT" >/dev/null
# The API saw the chain in order, every job completed.
OPS=$(curl -fsS "$EDGE_URL/jobs?limit=20" -H "X-API-Key: $API_KEY" | jq -r '[.jobs | reverse[] | select(.status == "COMPLETED") | .operation] | join(" → ")')
say "  jobs: $OPS"
[ "$OPS" = "video/img2vid → video/concatenate → video/addaudio → video/trilhasonora → audio/transcribe → video/caption_style" ]

run pollingLocal 300
say "polling: $(last_output pollingLocal | jq -c '{transcription, language}')"
last_output pollingLocal | jq -e '.transcription | ascii_downcase | test("narration")' >/dev/null
say "both workflows ran to the end"
