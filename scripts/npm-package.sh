#!/usr/bin/env bash
# Builds @api-gpu/job-spec into npm/job-spec/dist: job-spec-js (job-spec/js) to wasm32,
# wasm-bindgen's CommonJS glue (`--target nodejs`), and the TypeScript declarations
# generated from job-spec's schemas. Idempotent: installs the package's own tools
# (npm/job-spec/node_modules, from its package-lock.json) when missing or stale, and
# does nothing when the sources hash to what the last build recorded.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

pkg=npm/job-spec
dist=$pkg/dist
stamp=$dist/.build-hash

# wasm-bindgen's CLI must be the crate's version exactly (it refuses others at run time).
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
have=$("$WASM_BINDGEN_BIN" --version 2>/dev/null | awk '{ print $2 }' || true)
if [[ "$have" != "$want" ]]; then
  echo "npm-package: $WASM_BINDGEN_BIN is ${have:-missing}, Cargo.lock has wasm-bindgen $want;" \
       "install it with: cargo install wasm-bindgen-cli --version $want --locked" >&2
  exit 1
fi

# The package's tools (json-schema-to-typescript, typescript): `npm ci` when the lock
# changed since the last install.
if [[ ! -f $pkg/node_modules/.package-lock.json || $pkg/package-lock.json -nt $pkg/node_modules/.package-lock.json ]]; then
  (cd $pkg && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Everything the output depends on, by content (a checkout's mtimes say nothing).
inputs_hash() {
  {
    find job-spec/src job-spec/js -type f -name '*.rs' -print0 | sort -z | xargs -0 sha256sum
    sha256sum Cargo.toml Cargo.lock job-spec/Cargo.toml job-spec/js/Cargo.toml "$pkg/tools/gen-types.js" "$pkg/package-lock.json"
    echo "wasm-bindgen $have"
    sed -n "/^cargo build/,\$p" "${BASH_SOURCE[0]}"
  } | sha256sum | cut -d' ' -f1
}
hash=$(inputs_hash)
if [[ -f $stamp && "$(cat "$stamp")" == "$hash" && -f $dist/job_spec_js_bg.wasm && -f $dist/requests.d.ts ]]; then
  exit 0
fi

cargo build --quiet --release -p job-spec-js --target wasm32-unknown-unknown
rm -rf "$dist.tmp" && mkdir -p "$dist.tmp"
"$WASM_BINDGEN_BIN" --target nodejs --remove-name-section --remove-producers-section --out-dir "$dist.tmp" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/job_spec_js.wasm"
rm -rf "$dist" && mv "$dist.tmp" "$dist"
node $pkg/tools/gen-types.js
echo "$hash" >"$stamp"
