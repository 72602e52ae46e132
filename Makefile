# The two set-up commands of README.md: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
SWIFT ?= swift
# One build configuration for the node and the tests, so `make test` after `make run` rebuilds nothing.
BUILD_FLAGS := -c release -Xswiftc -enable-testing
BIN := .build/release/exo-peer
ARGS ?=

.PHONY: run test deps model test-models build test-build unit-tests system-tests fuzz clean

deps:
	@scripts/install-deps.sh

model: deps
	@scripts/fetch-model.sh

## The real published models the tests check against llama.cpp's outputs, cached apart from the node's
# models directory (the multi-node tests count what a node holds).
TEST_MODELS ?= $(HOME)/.cache/exo-peer/models
test-models: model
	@scripts/fetch-model.sh --model qwen2.5-coder-0.5b $(TEST_MODELS)
	@scripts/fetch-model.sh --model gemma-3-270m $(TEST_MODELS)

build: deps
	$(SWIFT) build $(BUILD_FLAGS) --product exo-peer

test-build: deps
	$(SWIFT) build $(BUILD_FLAGS) --build-tests

## Start a node serving the default model.
run: model build
	exec $(BIN) $(ARGS)

## Install everything and run the whole suite: unit tests, then the multi-node system tests.
# Serially: the model tests are synchronous and CPU-bound, and run beside the async mesh tests they
# would occupy the 2-core machine's whole cooperative thread pool and starve those tests' timeouts.
test: test-models test-build
	$(SWIFT) test $(BUILD_FLAGS) --skip-build --no-parallel
	@if [ -x scripts/system-tests.sh ]; then scripts/system-tests.sh; fi

## Fuzz the frame decoder, handshake, GGUF reader and gossip decoding (libFuzzer; FUZZ_SECONDS each).
# Not part of `test`: the instrumented build is a second full build (Fuzz/README.md); `test` replays the
# committed corpus through the same entry points in MeshTests and InferenceTests instead.
FUZZ_SECONDS ?= 30
fuzz: deps
	scripts/fuzz.sh all $(FUZZ_SECONDS)

clean:
	rm -rf .build
