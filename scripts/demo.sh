#!/usr/bin/env bash
# The demo pipeline, run against the local stack by `make demo` (scripts/with-stack.sh
# exports the stack's dev.env): sample media made locally → storage → a real img2vid job
# through the public API → the MP4s downloaded into ./out/.
set -euo pipefail
: "${EDGE_URL:?run through make demo}"
cd "$(dirname "$0")/.."
say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }
now() { date +%s.%N; }
MEDIA=$(mktemp -d); trap 'rm -rf "$MEDIA"' EXIT
RUN="demo-$(date +%Y%m%d-%H%M%S)"
OUT="out/$RUN"; mkdir -p "$OUT"

say "making sample media in $MEDIA"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=s=1920x1080" -frames:v 1 "$MEDIA/1.jpg"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "mandelbrot=s=1600x1200" -frames:v 1 "$MEDIA/2.jpg"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "smptehdbars=s=1280x720" -frames:v 1 "$MEDIA/3.png"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "cellauto=s=720x1280:rule=110" -frames:v 1 "$MEDIA/4.png"
espeak-ng -v pt-br -s 150 -w "$MEDIA/narracao.wav" \
  "Olá! Este é um vídeo de demonstração da api-gpu. Quatro imagens viram clipes com efeito Ken Burns, prontos para receber a narração."
NARRATION=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$MEDIA/narracao.wav")
say "narration: $(printf '%.2f' "$NARRATION") s of Portuguese speech (espeak-ng)"

upload() { # file key — S3 PUT signed with SigV4 (curl does the signing)
  curl -fsS -o /dev/null --aws-sigv4 "aws:amz:auto:s3" -u "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$1" "$S3_ENDPOINT/$S3_BUCKET/$2"
}
for f in 1.jpg 2.jpg 3.png 4.png narracao.wav; do upload "$MEDIA/$f" "${TENANT_PREFIX}inputs/$RUN/$f"; done
say "uploaded 4 photos and the narration under ${TENANT_PREFIX}inputs/$RUN/"

# The clips together last as long as the narration.
PER=$(python3 -c "print(round($NARRATION/4, 3))")
BODY=$(jq -n --arg p "${TENANT_PREFIX}inputs/$RUN" --arg d "$PER" --arg path "demo/$RUN" '{
  images: [1,2,3,4] | map({id: ., image_url: ("r2://" + $p + "/" + (if . < 3 then "\(.).jpg" else "\(.).png" end)), duracao: ($d|tonumber)}),
  path: $path, frame_rate: 24, zoom_types: ["zoomin","zoomout","zoompanright"], idRoteiro: 1,
  metadata: {source: "make demo"}}')
T0=$(now)
JOB=$(curl -fsS -X POST "$EDGE_URL/video/img2vid" -H "X-API-Key: $API_KEY" -H 'content-type: application/json' -d "$BODY")
ID=$(jq -r .jobId <<<"$JOB")
say "POST /video/img2vid → 202, job $ID ($(jq -r .status <<<"$JOB"))"
while :; do
  JOB=$(curl -fsS "$EDGE_URL/jobs/$ID" -H "X-API-Key: $API_KEY")
  ST=$(jq -r .status <<<"$JOB")
  printf '\r[demo] %-10s %-9s %5s%%' "$ST" "$(jq -r .progress.stage <<<"$JOB")" "$(jq -r .progress.percentage <<<"$JOB")"
  case $ST in COMPLETED|FAILED|CANCELLED|TIMED_OUT) echo; break;; esac
  sleep 0.5
done
T1=$(now)
if [ "$ST" != COMPLETED ]; then jq . <<<"$JOB" >&2; exit 1; fi
jq . <<<"$JOB" >"$OUT/job.json"
say "job $ID COMPLETED in $(python3 -c "print(f'{$T1-$T0:.2f}')") s (client clock); worker timings (ms): $(jq -c .result.timings_ms <<<"$JOB")"
for i in $(seq 0 3); do
  V=$(jq -c ".result.videos[$i]" <<<"$JOB")
  F="$OUT/$(jq -r .filename <<<"$V")"
  curl -fsS -o "$F" "$(jq -r .video_url <<<"$V")"
  P=$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=width,height,nb_read_packets,sample_aspect_ratio -of csv=p=0 "$F")
  say "$F  zoom=$(jq -r .zoom_type <<<"$V")  ${P}  ($(stat -c %s "$F") bytes, encoder $(jq -r .encoder <<<"$V"))"
done
cp "$MEDIA/narracao.wav" "$OUT/"
say "done: $OUT (job.json, 4 clips, narracao.wav)"
