#!/usr/bin/env bash
# @api-gpu/job-spec's tests: builds the package (scripts/npm-package.sh, a no-op when
# nothing changed), runs its Node tests under Node 22 (the validation fixtures shared
# with job-spec's Rust test, operations, errors), compiles a typed sample against the
# generated declarations with `tsc --strict`, and installs the packed tarball in a
# scratch folder to run the README's n8n Code node there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

scripts/npm-package.sh
pkg=$REPO_ROOT/npm/job-spec
node --test --test-reporter=dot "$pkg/test/*.test.js"
"$pkg/node_modules/.bin/tsc" -p "$pkg/test/types/tsconfig.json"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$pkg" && npm pack --silent --pack-destination "$tmp" >/dev/null)
mkdir "$tmp/n8n" && cd "$tmp/n8n" && echo '{"private": true}' >package.json
npm install --silent --offline --no-audit --no-fund "$tmp"/api-gpu-job-spec-*.tgz
node "$pkg/test/n8n-code-node.js"
