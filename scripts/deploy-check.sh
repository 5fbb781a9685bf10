#!/usr/bin/env bash
# `make deploy-check`: everything checkable before a deploy, offline and without accounts.
#   1. wrangler.toml: every Durable Object binding's class created by a migration, the
#      migrations' tags in order, no secret (by name or by look) in [vars], every var one the
#      edge reads, ALLOW_LOOPBACK_HTTP off; the secrets and per-deployment vars to set, named.
#   2. `wrangler deploy --dry-run --outdir` on that file (the edge built first by `make edge`):
#      wrangler's own checks of the config and the bundle, the bindings it would create, and
#      the Durable Object classes exported by the bundle.
#   3. The bundle's compressed size against the Workers limit: 3 MiB on the Free plan, 10 MiB
#      on Paid, after gzip (developers.cloudflare.com/workers/platform/limits, "Worker size").
#      WORKERS_PLAN=paid checks against 10 MiB (default: free, the stricter).
#   4. gpu-worker built with `--features cuda`, the image's build (no CUDA toolkit needed:
#      CTranslate2 is the PyPI wheel's library, which carries CUDA); its own target dir,
#      so the CPU release build `make dev` runs is left alone. Run only where a GPU is.
# Exit status 1 when anything failed; every line says what it checked.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
PLAN="${WORKERS_PLAN:-free}"
case "$PLAN" in
  free) LIMIT_KIB=$((3 * 1024)) ;;
  paid) LIMIT_KIB=$((10 * 1024)) ;;
  *) echo "WORKERS_PLAN=$PLAN: use free or paid" >&2; exit 2 ;;
esac
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FAILS=0
ok() { echo "  ok    $*"; }
bad() { echo "  FAIL  $*"; FAILS=$((FAILS + 1)); }
note() { echo "  note  $*"; }
skip() { echo "  skip  $*"; }

echo "== wrangler.toml"
# The secrets the edge reads (edge/src/config.rs, edge/src/providers/mod.rs). Checked below
# against the code, so a renamed one fails here instead of at the first request.
SECRETS="S3_ACCESS_KEY S3_SECRET_KEY RUNPOD_API_KEY WEBHOOK_TOKEN_SECRET TENANTS OPENROUTER_API_KEY RUNWARE_API_KEY"
set +e
python3 - "$SECRETS" >"$WORK/config.out" <<'EOF'
import pathlib, re, sys, tomllib
secrets = sys.argv[1].split()
cfg = tomllib.load(open("wrangler.toml", "rb"))
src = "\n".join(p.read_text() for p in pathlib.Path("edge/src").rglob("*.rs"))
fails = 0
def ok(m): print(f"  ok    {m}")
def bad(m):
    global fails
    fails += 1
    print(f"  FAIL  {m}")
def note(m): print(f"  note  {m}")

# Durable Objects: every bound class created by a migration, tags unique and in order.
bindings = cfg.get("durable_objects", {}).get("bindings", [])
migrations = cfg.get("migrations", [])
tags = [m.get("tag") for m in migrations]
created, deleted = [], set()
for m in migrations:
    created += m.get("new_sqlite_classes", []) + m.get("new_classes", [])
    created += [r["to"] for r in m.get("renamed_classes", [])]
    deleted |= set(m.get("deleted_classes", []))
nums = [int(t[1:]) if isinstance(t, str) and re.fullmatch(r"v\d+", t) else None for t in tags]
if len(set(tags)) != len(tags) or None in nums or nums != list(range(1, len(nums) + 1)):
    bad(f"migration tags {tags}: expected v1, v2, … in order, each once (a deployed tag never changes)")
else:
    ok(f"migrations {', '.join(tags)} in order")
dup = sorted({c for c in created if created.count(c) > 1})
if dup:
    bad(f"classes created by more than one migration: {dup}")
for b in bindings:
    c = b.get("class_name")
    if c not in created or c in deleted:
        bad(f"Durable Object binding {b.get('name')} → {c}: no migration creates the class (add a [[migrations]] with new_sqlite_classes = [\"{c}\"])")
    else:
        ok(f"Durable Object {b.get('name')} → {c} (created by a migration)")
for c in sorted(set(created) - deleted - {b.get('class_name') for b in bindings}):
    bad(f"class {c} is created by a migration but no binding uses it")

# [vars]: no secret by name or by look; each var one the edge reads.
variables = cfg.get("vars", {})
looks_secret = re.compile(r"^(whsec_|sk-|rpa_|rp_)|^[A-Za-z0-9+/=_-]{40,}$")
for k, v in variables.items():
    if k in secrets or re.search(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", k):
        bad(f"[vars] {k}: a secret; remove it and `wrangler secret put {k}`")
    elif isinstance(v, str) and looks_secret.search(v):
        bad(f"[vars] {k}: its value looks like a key; secrets go through `wrangler secret put`")
    if f'"{k}"' not in src:
        bad(f"[vars] {k}: the edge reads no variable of that name (edge/src)")
flagged = fails
if not any(k in secrets for k in variables):
    ok(f"no secret in [vars] ({len(variables)} vars, each read by the edge)" if fails == flagged else "no secret in [vars]")
if variables.get("ALLOW_LOOPBACK_HTTP", "false") != "false":
    bad("[vars] ALLOW_LOOPBACK_HTTP must be \"false\" in production (it lets job URLs reach http:// loopback)")

# What is set outside this file: secrets, and the required vars of each deployment.
for s in secrets:
    if f'"{s}"' not in src:
        bad(f"deploy-check's secret list names {s}, which the edge no longer reads: fix scripts/deploy-check.sh")
required = re.findall(r'req\("([A-Z0-9_]+)"\)', (pathlib.Path("edge/src/config.rs")).read_text())
per_deploy = [r for r in required if r not in secrets and r not in variables]
need = [s for s in secrets if s in required]
optional = [s for s in secrets if s not in required]
note(f"secrets to set (`wrangler secret put NAME`): {' '.join(need)}; optional: {' '.join(optional)}")
note(f"vars each deployment sets (`wrangler deploy --var NAME:VALUE` or [vars]): {' '.join(per_deploy)}")
sys.exit(min(fails, 100))
EOF
CONFIG_FAILS=$?
set -e
cat "$WORK/config.out"
FAILS=$((FAILS + CONFIG_FAILS))

echo "== wrangler deploy --dry-run"
if ! make -s edge >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log"
  bad "make edge failed (above)"
  echo "deploy-check: $FAILS problem(s)"
  exit 1
fi
main="$(python3 -c 'import tomllib; print(tomllib.load(open("wrangler.toml","rb"))["main"])')"
[ -f "$main" ] && ok "main = $main (built by make edge)" || bad "main = $main does not exist after make edge"
# EDGE_PREBUILT: wrangler.toml's [build] command would run `make edge` again; it just ran.
# Offline: no account, no login and no network are needed for --dry-run (env.sh turns off
# wrangler's metrics and its fetch of Cloudflare's request.cf data).
if EDGE_PREBUILT=1 npx --no-install wrangler deploy --dry-run --outdir "$WORK/bundle" >"$WORK/wrangler.log" 2>&1; then
  ok "wrangler $(npx --no-install wrangler --version 2>/dev/null | tail -1) accepts wrangler.toml and the bundle"
else
  sed 's/^/        /' "$WORK/wrangler.log"
  bad "wrangler deploy --dry-run failed (above)"
fi
for b in $(python3 -c 'import tomllib; [print(b["name"]) for b in tomllib.load(open("wrangler.toml","rb")).get("durable_objects",{}).get("bindings",[])]'); do
  grep -q "env\.$b (" "$WORK/wrangler.log" && ok "wrangler would bind env.$b" || bad "wrangler's binding list has no env.$b"
done
for c in $(python3 -c 'import tomllib; [print(b["class_name"]) for b in tomllib.load(open("wrangler.toml","rb")).get("durable_objects",{}).get("bindings",[])]'); do
  # esbuild's last statement: `export { Ot as JobObject, …, kt as default };` over several lines.
  python3 - "$c" "$WORK"/bundle/*.js <<'EOF' && ok "the bundle exports class $c" || bad "the bundle does not export class $c (a Durable Object binding names it)"
import re, sys
names = set()
for f in sys.argv[2:]:
    for block in re.findall(r"^export\s*\{([^}]*)\}", open(f).read(), re.M):
        names |= {part.split(" as ")[-1].strip() for part in block.split(",")}
sys.exit(0 if sys.argv[1] in names else 1)
EOF
done

echo "== bundle size (Workers $PLAN plan: ${LIMIT_KIB} KiB after gzip)"
# wrangler's own figure: "Total Upload: 3074.77 KiB / gzip: 979.31 KiB".
line="$(grep -o 'Total Upload: .*' "$WORK/wrangler.log" || true)"
if [ -z "$line" ]; then
  bad "wrangler printed no 'Total Upload' line"
else
  gzip_kib="$(sed -E 's/.*gzip: ([0-9.]+) KiB.*/\1/' <<<"$line")"
  raw_kib="$(sed -E 's/Total Upload: ([0-9.]+) KiB.*/\1/' <<<"$line")"
  # The same measured here, module by module (source maps are not uploaded).
  python3 - "$WORK/bundle" <<'EOF'
import gzip, pathlib, sys
files = [p for p in sorted(pathlib.Path(sys.argv[1]).iterdir()) if p.suffix in (".js", ".mjs", ".wasm")]
for p in files:
    raw = p.read_bytes()
    print(f"  size  {p.name}: {len(raw) / 1024:.1f} KiB, gzip -9 {len(gzip.compress(raw, 9)) / 1024:.1f} KiB")
EOF
  pct="$(python3 -c "print(f'{100 * $gzip_kib / $LIMIT_KIB:.0f}')")"
  if python3 -c "import sys; sys.exit(0 if $gzip_kib <= $LIMIT_KIB else 1)"; then
    ok "bundle ${raw_kib} KiB, ${gzip_kib} KiB gzip: ${pct}% of the $PLAN plan's ${LIMIT_KIB} KiB"
  else
    bad "bundle ${gzip_kib} KiB gzip is over the $PLAN plan's ${LIMIT_KIB} KiB (Paid: 10240 KiB; WORKERS_PLAN=paid)"
  fi
fi

echo "== gpu-worker --features cuda"
# The image's build: CTranslate2 is the PyPI wheel's library (scripts/ctranslate2.sh), which
# carries CUDA itself, so no CUDA toolkit is needed to build; running it needs a GPU.
CUDA_TARGET="$CARGO_TARGET_DIR/cuda"
if cargo build --quiet --release --locked -p gpu-worker --features cuda --target-dir "$CUDA_TARGET" >"$WORK/cuda.log" 2>&1; then
  ok "cargo build --release -p gpu-worker --features cuda: $CUDA_TARGET/release/gpu-worker (CTranslate2 from $CT2_LIB_DIR)"
else
  tail -n 40 "$WORK/cuda.log" | sed 's/^/        /'
  bad "cargo build --release -p gpu-worker --features cuda failed (above)"
fi
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  note "a GPU is here: $CUDA_TARGET/release/gpu-worker serve runs the image's worker locally"
else
  skip "no NVIDIA GPU here: the CUDA build was linked, not run (it runs on the endpoint)"
fi

echo
if [ "$FAILS" -gt 0 ]; then
  echo "deploy-check: $FAILS problem(s)"
  exit 1
fi
echo "deploy-check: ok"
