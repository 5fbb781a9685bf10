#!/usr/bin/env bash
# @api-gpu/job-spec's tests: builds the package (scripts/npm-package.sh, a no-op when
# nothing changed), runs its Node tests under Node 22 (the validation fixtures shared
# with job-spec's Rust test, operations, errors) and compiles a typed sample against the
# generated declarations with `tsc --strict`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

scripts/npm-package.sh
pkg=npm/job-spec
node --test --test-reporter=dot "$pkg/test/*.test.js"
"$pkg/node_modules/.bin/tsc" -p "$pkg/test/types/tsconfig.json"
