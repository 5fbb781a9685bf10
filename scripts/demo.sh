#!/usr/bin/env bash
# The demo pipeline, run against the local stack by `make demo` (scripts/with-stack.sh
# exports the stack's dev.env): sample media made locally → storage → a chain of real
# jobs through the public API (img2vid → concatenate → addaudio → trilhasonora →
# transcribe → caption_style highlight with the transcription's words.json) → ./out/.
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
espeak-ng -v en -s 150 -w "$MEDIA/narration.wav" \
  "Hello! This is a demo of the GPU video API. Four pictures become moving clips, joined together, with this narration and some music under it. Every word you hear is transcribed, then shown as it is spoken."
NARRATION=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$MEDIA/narration.wav")
say "narration: $(printf '%.2f' "$NARRATION") s of English speech (espeak-ng)"

upload() { # file key — S3 PUT signed with SigV4 (curl does the signing)
  curl -fsS -o /dev/null --aws-sigv4 "aws:amz:auto:s3" -u "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$1" "$S3_ENDPOINT/$S3_BUCKET/$2"
}
# A little music: two detuned tones with a slow tremolo, 6 s (it loops under the video).
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "aevalsrc=0.3*sin(2*PI*220*t)*(0.6+0.4*sin(2*PI*0.5*t))+0.2*sin(2*PI*330.5*t):s=44100:d=6"   -ac 2 -c:a libmp3lame "$MEDIA/musica.mp3"
for f in 1.jpg 2.jpg 3.png 4.png narration.wav musica.mp3; do upload "$MEDIA/$f" "${TENANT_PREFIX}inputs/$RUN/$f"; done
say "uploaded 4 photos, the narration and music under ${TENANT_PREFIX}inputs/$RUN/"

# run_job PATH BODY → waits for the job, prints progress, leaves its object in $JOB.
run_job() {
  JOB=$(curl -fsS -X POST "$EDGE_URL$1" -H "X-API-Key: $API_KEY" -H 'content-type: application/json' -d "$2")
  wait_job "$1"
}
# wait_job PATH → waits for the job whose 202 is in $JOB.
wait_job() {
  local path=$1 t0 id st
  t0=$(now)
  id=$(jq -r .jobId <<<"$JOB")
  say "POST $path → 202, job $id"
  while :; do
    JOB=$(curl -fsS "$EDGE_URL/jobs/$id" -H "X-API-Key: $API_KEY")
    st=$(jq -r .status <<<"$JOB")
    printf '\r[demo]   %-10s %-9s %5s%%' "$st" "$(jq -r .progress.stage <<<"$JOB")" "$(jq -r .progress.percentage <<<"$JOB")"
    case $st in COMPLETED|FAILED|CANCELLED|TIMED_OUT) echo; break;; esac
    sleep 0.5
  done
  if [ "$st" != COMPLETED ]; then jq . <<<"$JOB" >&2; exit 1; fi
  jq . <<<"$JOB" >"$OUT/$(basename "$path").json"
  say "  done in $(python3 -c "print(f'{$(now)-$t0:.2f}')") s (client clock); worker timings (ms): $(jq -c .result.timings_ms <<<"$JOB")"
}
fetch() { # url file → downloads and prints a one-line ffprobe summary
  curl -fsS -o "$2" "$1"
  say "  $2: $(ffprobe -v error -show_entries stream=codec_type,codec_name,width,height -show_entries format=duration -of compact=p=0:nk=1 "$2" | tr '\n' ' ')"
}

# 0. script → prompts → images (AI providers): one scene prompt each from an LLM, then one
#    image each, stored in our bucket. They need the edge's OPENROUTER_API_KEY and
#    RUNWARE_API_KEY; without them (the offline local stack) the step is skipped.
IMAGES=$(jq -n --arg p "${TENANT_PREFIX}inputs/$RUN" '[1,2,3,4] | map({id: ., key: ($p + "/" + (if . < 3 then "\(.).jpg" else "\(.).png" end))})')
SCENES='{"cenas": [{"index": 1, "texto": "A sunrise over a quiet city"}, {"index": 2, "texto": "Servers humming in a data centre"},
  {"index": 3, "texto": "A film strip unrolling"}, {"index": 4, "texto": "A finished video playing on a phone"}],
  "estilo": "cinematic photo", "roteiro": "How a GPU video API turns a script into a video."}'
CODE=$(curl -sS -o "$MEDIA/prompts.json" -w '%{http_code}' -X POST "$EDGE_URL/image/prompts" -H "X-API-Key: $API_KEY" -H 'content-type: application/json' -d "$SCENES")
if [ "$CODE" = 503 ]; then
  say "skipping script → prompts → images: $(jq -r .message "$MEDIA/prompts.json") (the clips use local sample pictures)"
elif [ "$CODE" = 202 ]; then
  JOB=$(cat "$MEDIA/prompts.json"); wait_job /image/prompts
  PROMPTS=$(jq -c '[.result.prompts[] | {index, prompt}]' <<<"$JOB")
  run_job /image/generate "$(jq -n --argjson p "$PROMPTS" --arg path "demo/$RUN/images" '{prompts: $p, largura: 1344, altura: 768, path: $path}')"
  IMAGES=$(jq -c '[.result.images[] | {id: .index, key: .s3_key}]' <<<"$JOB")
  say "  $(jq length <<<"$IMAGES") images generated into demo/$RUN/images/"
else
  say "/image/prompts answered HTTP $CODE: $(cat "$MEDIA/prompts.json")"; exit 1
fi

# 1. img2vid: four Ken Burns clips that together last as long as the narration.
PER=$(python3 -c "print(round($NARRATION/4, 3))")
BODY=$(jq -n --argjson imgs "$IMAGES" --arg d "$PER" --arg path "demo/$RUN" '{
  images: $imgs | map({id, image_url: ("r2://" + .key), duracao: ($d|tonumber)}),
  path: $path, frame_rate: 24, zoom_types: ["zoomin","zoomout","zoompanright"], idRoteiro: 1,
  metadata: {source: "make demo"}}')
run_job /video/img2vid "$BODY"
for i in $(seq 0 3); do
  V=$(jq -c ".result.videos[$i]" <<<"$JOB")
  fetch "$(jq -r .video_url <<<"$V")" "$OUT/$(jq -r .filename <<<"$V")"
done
CLIPS=$(jq -c '[.result.videos[] | {video_url: ("r2://" + .s3_key)}]' <<<"$JOB")

# 2. concatenate: the clips share encoder parameters, so they are joined by stream copy.
run_job /video/concatenate "$(jq -n --argjson c "$CLIPS" --arg path "demo/$RUN" '{video_urls: $c, path: $path}')"
say "  stream copy: $(jq -r .result.copied <<<"$JOB")"
JOINED=$(jq -r .result.s3_key <<<"$JOB")

# 3. addaudio: the narration under the video.
run_job /video/addaudio "$(jq -n --arg v "r2://$JOINED" --arg a "r2://${TENANT_PREFIX}inputs/$RUN/narration.wav" --arg path "demo/$RUN" \
  '{url_video: $v, url_audio: $a, path: $path, output_filename: "narrated.mp4"}')"
NARRATED=$(jq -r .result.s3_key <<<"$JOB")

# 4. trilhasonora: music 20 dB below the voice (EBU R128), looped.
run_job /video/trilhasonora "$(jq -n --arg v "r2://$NARRATED" --arg m "r2://${TENANT_PREFIX}inputs/$RUN/musica.mp3" --arg path "demo/$RUN" \
  '{url_video: $v, trilha_sonora: $m, path: $path, output_filename: "with_music.mp4"}')"
say "  loops: $(jq -r .result.loops_applied <<<"$JOB"), analysis: $(jq -c .result.audio_analysis <<<"$JOB")"
WITH_MUSIC=$(jq -r .result.s3_key <<<"$JOB")

# 5. transcribe: the narration → segments.srt, segments.json, words.json, karaoke.ass
#    (Whisper; the local worker's default model is tiny.en).
run_job /audio/transcribe "$(jq -n --arg a "r2://${TENANT_PREFIX}inputs/$RUN/narration.wav" --arg path "demo/$RUN/transcript" \
  '{audio_url: $a, path: $path}')"
say "  \"$(jq -r .result.transcription <<<"$JOB")\""
say "  language $(jq -r .result.language <<<"$JOB"), model $(jq -r .result.stats.model <<<"$JOB"), $(jq -r .result.stats.words <<<"$JOB") words, \
$(jq -r .result.stats.real_time_factor <<<"$JOB")× real time"
mkdir -p "$OUT/transcript"
for f in segments.srt:.segments.srt segments.json:.segments.json words.json:.words.json karaoke.ass:.words.ass_karaoke; do
  curl -fsS -o "$OUT/transcript/${f%%:*}" "$(jq -r ".result.files${f#*:}" <<<"$JOB")"
done
say "  $OUT/transcript/: $(ls "$OUT/transcript" | tr '\n' ' ')"
WORDS=$(jq -r .result.s3_keys.words.json <<<"$JOB")

# 6. caption_style highlight: word-by-word karaoke from the transcription's words.json.
run_job /video/caption_style "$(jq -n --arg v "r2://$WITH_MUSIC" --arg c "r2://$WORDS" --arg path "demo/$RUN" \
  '{url_video: $v, url_caption: $c, type: "highlight", uppercase: true, path: $path, output_filename: "final.mp4",
    style: {fonte: "DejaVu Sans", tamanho_fonte: 72, texto_cor: "#FFFFFF", highlight_texto_cor: "#FFD400", position: "bottom_center",
      fundo_cor: "#000000", fundo_opacidade: 0.55, fundo_arredondado: true, padding_horizontal: 28, padding_vertical: 14,
      words_per_line: 4, max_lines: 2}}')"
fetch "$(jq -r .result.video_url <<<"$JOB")" "$OUT/final.mp4"
cp "$MEDIA/narration.wav" "$OUT/"
say "done: $OUT/final.mp4 (and the four clips, the transcript files, each step's job object, narration.wav)"
