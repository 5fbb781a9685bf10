# api-gpu — build entry point. The README's two commands: `make demo`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := source scripts/env.sh &&
EDGE_SOURCES := $(shell find edge/src job-spec/src -name '*.rs') edge/Cargo.toml job-spec/Cargo.toml Cargo.toml Cargo.lock

.PHONY: setup build worker worker-release edge dev demo test lint test-unit test-e2e fmt clean npm deploy-check

## Install every tool the project needs (idempotent; apt, Node 22, npm, cargo).
setup:
	@scripts/setup.sh

## Build the GPU worker (debug profile: shares build output with `cargo test`) and the edge.
build: worker edge

worker:
	@$(ENV) cargo build --quiet -p gpu-worker

## The release worker for `make dev` and `make demo` (a debug build renders and transcribes
## several times slower); `make test` keeps the debug one.
worker-release:
	@$(ENV) cargo build --quiet --release -p gpu-worker

## The edge Worker (Rust → wasm32 through worker-build), rebuilt only when sources change.
edge: edge/build/worker/shim.mjs

edge/build/worker/shim.mjs: $(EDGE_SOURCES)
	@$(ENV) cd edge && worker-build --release >/dev/null 2>"$$CARGO_TARGET_DIR/worker-build.log" \
	  || { cat "$$CARGO_TARGET_DIR/worker-build.log" >&2; exit 1; }
	@touch $@

## Start the local stack (s3s-fs, gpu-worker serve, wrangler dev) until Ctrl-C.
dev: setup edge worker-release
	@WORKER_PROFILE=release scripts/dev.sh

## Set up, build, start the stack, run a real job through the public API into ./out/.
demo: setup edge worker-release
	@WORKER_PROFILE=release scripts/with-stack.sh scripts/demo.sh

## Set up, build, then every test: unit, real ffmpeg, in-process servers, end to end.
test: setup build lint test-unit test-e2e

test-unit:
	@$(ENV) cargo test --workspace --quiet
	@scripts/runpod/test.sh
	@scripts/test-npm.sh

test-e2e:
	@scripts/test-stack-lifecycle.sh
	@PROVIDER_STUB=1 scripts/with-stack.sh bash -c 'source scripts/env.sh && cargo test --quiet -p edge --test e2e --test e2e_ops --test e2e_render --test e2e_transcribe --test e2e_seeds --test e2e_pipeline --test e2e_images --test e2e_youtube -- --ignored --test-threads 3 \
	  && cargo test --quiet -p edge --test e2e_chaos --test e2e_load -- --ignored --test-threads 1 \
	  && scripts/test-clients.sh'

fmt:
	@$(ENV) cargo fmt --all

## The validator for JavaScript: job-spec built with wasm-bindgen into npm/job-spec (@api-gpu/job-spec).
npm:
	@scripts/npm-package.sh

## Everything checkable before a deploy: wrangler's dry run on the real wrangler.toml, the
## bundle's size against the Workers limit, the CUDA build where a toolkit exists.
deploy-check:
	@scripts/deploy-check.sh

## Formatting and clippy (native and the edge's wasm32 build), warnings as errors.
lint:
	@$(ENV) cargo fmt --all --check
	@$(ENV) cargo clippy --quiet --workspace --all-targets -- -D warnings
	@$(ENV) cargo clippy --quiet -p edge --target wasm32-unknown-unknown -- -D warnings

clean:
	rm -rf edge/build .local out

## Benchmark (not part of `make test`): the seed's ffmpeg commands against ours on generated
## inputs, one table (README § Benchmark). `make bench ARGS=--quick` for a smoke run.
.PHONY: bench bench-edge
bench:
	@$(ENV) cargo build --quiet --release -p gpu-worker -p bench && cargo run --quiet --release -p bench -- $(ARGS)
	@$(MAKE) -s bench-edge

## The edge on the local stack: latency at concurrency 1 and 8, then 200 small jobs from 8
## clients (every one accepted and completed; submit percentiles and the time to drain).
bench-edge: build worker-release
	@WORKER_PROFILE=release bench/edge-latency.sh 10 1
	@WORKER_PROFILE=release bench/edge-latency.sh 10 8
	@WORKER_PROFILE=release DEV_RATE_LIMIT=100000 scripts/with-stack.sh bash -c 'source scripts/env.sh && LOAD_JOBS=$${LOAD_JOBS:-200} \
	  cargo test --quiet -p edge --test e2e_load -- --ignored --nocapture'
