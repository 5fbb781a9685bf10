#!/usr/bin/env bash
# Tests scripts/runpod/endpoint.py against a loopback RunPod (fake_runpod.py, which records
# every request): the first run creates the template and the endpoint (POST), the second
# finds them by name and updates them (PATCH); --dry-run sends nothing; the API key and
# secret worker settings never reach the output; bad input fails before any request.
# Also parses .github/workflows/image.yml (it cannot run here) and checks what it must say.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TMP="$(mktemp -d)"
FAKE_PID=""
cleanup() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
KEY="rpa_TESTKEY0123456789abcdef"
SECRET_PROXY="socks5h://user:hunter2@proxy.test:1080"

python3 "$HERE/fake_runpod.py" "$TMP/port" "$TMP/requests.jsonl" "$KEY" &
FAKE_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { echo "FAIL: the fake RunPod did not start" >&2; exit 1; }
export RUNPOD_REST_URL="http://127.0.0.1:$(cat "$TMP/port")/v1"

cat >"$TMP/endpoint.env" <<EOF
# a comment, then a blank line

NAME=api-gpu-test
IMAGE=ghcr.io/acme/api-gpu:v1.2.3
GPU_TYPES=NVIDIA L4, NVIDIA RTX A5000
GPU_COUNT=1
WORKERS_MIN=0
WORKERS_MAX=3
IDLE_TIMEOUT_SECS=7
EXECUTION_TIMEOUT_SECS=600
FLASHBOOT=true
CONTAINER_DISK_GB=30
WORKER_ENV_JOB_DEADLINE_SECS=570
WORKER_ENV_YOUTUBE_PROXY="$SECRET_PROXY"
EOF

tool() { python3 "$HERE/endpoint.py" --config "$TMP/endpoint.env" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
requests() { [ -f "$TMP/requests.jsonl" ] && cat "$TMP/requests.jsonl" || true; }
secrets_absent() {  # FILE: neither the API key nor the proxy's password appear in it
  ! grep -q -e "$KEY" -e hunter2 "$1" || fail "a secret was printed in $1: $(grep -e "$KEY" -e hunter2 "$1")"
}

# 1. --dry-run prints every request and sends none.
RUNPOD_API_KEY="$KEY" tool --dry-run >"$TMP/dry.out" 2>&1 || fail "--dry-run failed: $(cat "$TMP/dry.out")"
[ -z "$(requests)" ] || fail "--dry-run sent requests: $(requests)"
secrets_absent "$TMP/dry.out"
for line in "GET $RUNPOD_REST_URL/templates?includeEndpointBoundTemplates=true" "POST $RUNPOD_REST_URL/templates" \
  "PATCH $RUNPOD_REST_URL/templates/{templateId}" "GET $RUNPOD_REST_URL/endpoints" "POST $RUNPOD_REST_URL/endpoints" \
  "PATCH $RUNPOD_REST_URL/endpoints/{endpointId}" "Authorization: Bearer ***"; do
  grep -qF -- "$line" "$TMP/dry.out" || fail "--dry-run does not print '$line':"$'\n'"$(cat "$TMP/dry.out")"
done
python3 - "$TMP/dry.out" <<'EOF'
import json, sys
# Each request line is followed by its JSON body (up to the next blank line).
text = open(sys.argv[1]).read()
blocks = [b.split("\nPOST ", 1)[1] for b in text.split("\n\n") if "\nPOST " in b and b.split("\nPOST ", 1)[1].split("\n")[0].endswith("/templates")]
assert len(blocks) == 1, text
body = json.loads(blocks[0].split("\n", 1)[1])
assert body["imageName"] == "ghcr.io/acme/api-gpu:v1.2.3", body
assert body["env"] == {"JOB_DEADLINE_SECS": "570", "YOUTUBE_PROXY": "***"}, body["env"]
EOF

# --image overrides IMAGE (a CI step passing the tag it just pushed).
RUNPOD_API_KEY="$KEY" tool --dry-run --image ghcr.io/acme/api-gpu:v9 >"$TMP/dry-image.out" 2>&1 || fail "--image: $(cat "$TMP/dry-image.out")"
[ "$(grep -c '"imageName": "ghcr.io/acme/api-gpu:v9"' "$TMP/dry-image.out")" = 2 ] || fail "--image does not replace IMAGE in both template bodies"
[ -z "$(requests)" ] || fail "--dry-run sent requests: $(requests)"

# 2. First run: nothing named api-gpu-test exists → both are created.
RUNPOD_API_KEY="$KEY" tool >"$TMP/run1.out" 2>&1 || fail "first run failed: $(cat "$TMP/run1.out")"
secrets_absent "$TMP/run1.out"
grep -qx "RUNPOD_ENDPOINT_ID=ep-2" "$TMP/run1.out" || fail "first run does not print RUNPOD_ENDPOINT_ID=ep-2: $(cat "$TMP/run1.out")"
mv "$TMP/requests.jsonl" "$TMP/run1.jsonl"

# 3. Second run with a new image and more workers: both found by name → updated in place.
sed -i 's/v1.2.3/v1.2.4/; s/WORKERS_MAX=3/WORKERS_MAX=5/' "$TMP/endpoint.env"
RUNPOD_API_KEY="$KEY" tool >"$TMP/run2.out" 2>&1 || fail "second run failed: $(cat "$TMP/run2.out")"
secrets_absent "$TMP/run2.out"
grep -qx "RUNPOD_ENDPOINT_ID=ep-2" "$TMP/run2.out" || fail "second run does not print RUNPOD_ENDPOINT_ID=ep-2: $(cat "$TMP/run2.out")"
mv "$TMP/requests.jsonl" "$TMP/run2.jsonl"

python3 - "$TMP/run1.jsonl" "$TMP/run2.jsonl" "$KEY" "$SECRET_PROXY" <<'EOF'
import json, sys
run1, run2 = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
key, proxy = sys.argv[3], sys.argv[4]
def shape(reqs):
    return [(r["method"], r["path"]) for r in reqs]
for r in run1 + run2:
    assert r["authorization"] == f"Bearer {key}", r
    if r["body"] is not None:
        assert r["content_type"] == "application/json", r
    else:
        assert r["method"] == "GET", r
env = {"JOB_DEADLINE_SECS": "570", "YOUTUBE_PROXY": proxy}
endpoint = {
    "gpuTypeIds": ["NVIDIA L4", "NVIDIA RTX A5000"], "gpuCount": 1, "workersMin": 0, "workersMax": 3,
    "idleTimeout": 7, "executionTimeoutMs": 600000, "flashboot": True,
    "scalerType": "QUEUE_DELAY", "scalerValue": 4,
}
assert shape(run1) == [
    ("GET", "/v1/templates?includeEndpointBoundTemplates=true"),
    ("POST", "/v1/templates"),
    ("GET", "/v1/endpoints"),
    ("POST", "/v1/endpoints"),
], shape(run1)
assert run1[1]["body"] == {
    "name": "api-gpu-test", "imageName": "ghcr.io/acme/api-gpu:v1.2.3", "isServerless": True, "category": "NVIDIA",
    "containerDiskInGb": 30, "volumeInGb": 0, "env": env,
}, run1[1]["body"]
assert run1[3]["body"] == dict(endpoint, name="api-gpu-test", templateId="tpl-1", computeType="GPU"), run1[3]["body"]
# The endpoint shows as "api-gpu-test -fb" (FlashBoot) and the template is bound to it now:
# both are still found, and nothing is created twice.
assert shape(run2) == [
    ("GET", "/v1/templates?includeEndpointBoundTemplates=true"),
    ("PATCH", "/v1/templates/tpl-1"),
    ("GET", "/v1/endpoints"),
    ("PATCH", "/v1/endpoints/ep-2"),
], shape(run2)
assert run2[1]["body"] == {"imageName": "ghcr.io/acme/api-gpu:v1.2.4", "containerDiskInGb": 30, "volumeInGb": 0, "env": env}, run2[1]["body"]
assert run2[3]["body"] == dict(endpoint, workersMax=5, templateId="tpl-1"), run2[3]["body"]
EOF

# 4. Refusals before any request: no API key; no image; a bad number.
if env -u RUNPOD_API_KEY python3 "$HERE/endpoint.py" --config "$TMP/endpoint.env" >"$TMP/nokey.out" 2>&1; then fail "ran without RUNPOD_API_KEY"; fi
grep -q RUNPOD_API_KEY "$TMP/nokey.out" || fail "no-key error does not name RUNPOD_API_KEY: $(cat "$TMP/nokey.out")"
sed 's/^IMAGE=.*//' "$TMP/endpoint.env" >"$TMP/noimage.env"
if RUNPOD_API_KEY="$KEY" python3 "$HERE/endpoint.py" --config "$TMP/noimage.env" >"$TMP/noimage.out" 2>&1; then fail "ran without IMAGE"; fi
grep -q IMAGE "$TMP/noimage.out" || fail "no-image error does not name IMAGE: $(cat "$TMP/noimage.out")"
sed 's/^WORKERS_MAX=.*/WORKERS_MAX=many/' "$TMP/endpoint.env" >"$TMP/bad.env"
if RUNPOD_API_KEY="$KEY" python3 "$HERE/endpoint.py" --config "$TMP/bad.env" >"$TMP/bad.out" 2>&1; then fail "ran with WORKERS_MAX=many"; fi
grep -q WORKERS_MAX "$TMP/bad.out" || fail "bad-number error does not name WORKERS_MAX: $(cat "$TMP/bad.out")"
[ -z "$(requests)" ] || fail "a refused run sent requests: $(requests)"

# 5. RunPod refusing (a wrong key: 401) fails the run with the status, and prints no key.
if RUNPOD_API_KEY="rpa_WRONG" tool >"$TMP/401.out" 2>&1; then fail "a 401 did not fail the run"; fi
grep -q "401" "$TMP/401.out" || fail "the 401 is not reported: $(cat "$TMP/401.out")"
! grep -q rpa_WRONG "$TMP/401.out" || fail "the wrong key was printed"
[ "$(requests | wc -l)" = 1 ] || fail "requests after a 401: $(requests)"

# 6. The image workflow (GitHub Actions cannot run here): it parses, and says what it must.
python3 - "$ROOT/.github/workflows/image.yml" <<'EOF'
import sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
assert on["push"]["tags"] == ["v*"], on
assert "pull_request" in on, on
job = next(iter(wf["jobs"].values()))
assert job["permissions"]["packages"] == "write" and job["permissions"]["contents"] == "read", job["permissions"]
steps = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
for action in ("actions/checkout", "docker/setup-buildx-action", "docker/login-action", "docker/metadata-action", "docker/build-push-action"):
    assert action in steps, (action, list(steps))
login, meta, build = steps["docker/login-action"], steps["docker/metadata-action"], steps["docker/build-push-action"]
assert login["with"]["registry"] == "ghcr.io" and "GITHUB_TOKEN" in login["with"]["password"], login
assert "refs/tags/v" in login["if"], login.get("if")
assert "ghcr.io/${{ github.repository }}" in meta["with"]["images"], meta
assert build["with"]["file"] == "docker/Dockerfile" and build["with"]["context"] == ".", build
assert "refs/tags/v" in str(build["with"]["push"]), build["with"]["push"]
assert build["with"]["tags"] == "${{ steps.meta.outputs.tags }}", build["with"]
EOF

# 7. docs/deploy.md names only settings that exist: each UPPER_SNAKE name is read by the edge
# or the worker ("NAME" in their sources) or defined by the deploy kit, or is one of the
# shell placeholders the guide itself defines.
python3 - "$ROOT" <<'EOF'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
doc = (root / "docs/deploy.md").read_text()
code = "".join(p.read_text() for d in ("edge/src", "gpu-worker/src") for p in (root / d).rglob("*.rs"))
kit = "".join((root / f).read_text() for f in ("wrangler.toml", "scripts/runpod/endpoint.py", "scripts/deploy-check.sh",
                                              "docker/Dockerfile", ".github/workflows/image.yml"))
placeholders = {"ACCOUNT_ID", "API_KEY"}
unknown = [n for n in sorted(set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b", doc)))
           if n not in placeholders and f'"{n}"' not in code and not re.search(rf"\b{n}\b", kit)]
assert not unknown, f"docs/deploy.md names settings nothing reads: {unknown}"
EOF

echo "scripts/runpod/test.sh: ok (dry run, create, update, refusals, 401, image.yml, docs/deploy.md names)"
