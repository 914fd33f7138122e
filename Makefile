# CAPlab: `make serve` builds and serves the playground on http://127.0.0.1:8000;
# `make test` runs every test. Both install what they need first, idempotently.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

# wasm-bindgen-cli must match the wasm-bindgen crate to the patch version: read it from the lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
WASM := target/wasm32-unknown-unknown/release/caplab.wasm
CAPLAB := target/release/caplab
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup setup-rust setup-browser setup-npm vendor build wasm serve dist test test-rust test-scenarios test-web fuzz bench clean

setup: setup-rust setup-browser setup-npm

setup-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi

setup-browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver; \
	fi

setup-npm:
	@if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
	  cd web && npm ci --no-audit --no-fund; \
	fi

# Chart library for the CAP lab, installed by npm from the lock file and copied beside the page
# (web/vendor/ is generated, like web/pkg/).
vendor: setup-npm
	@mkdir -p web/vendor
	@cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css web/vendor/
	@cp web/node_modules/uplot/LICENSE web/vendor/uPlot.LICENSE

build: setup-rust
	cargo build --release -p caplab

wasm: setup-rust
	cargo build --release --target wasm32-unknown-unknown -p caplab --lib
	wasm-bindgen --target web --out-dir web/pkg $(WASM)

serve: wasm vendor
	@echo "CAPlab on http://127.0.0.1:$(PORT)"
	node web/tests/server.mjs --root web --port $(PORT)

# A self-contained copy of the page for any static host or course site.
dist: wasm vendor
	rm -rf dist && mkdir -p dist
	cp -r web/index.html web/cap.html web/*.css web/js web/i18n web/protocols web/pkg web/vendor dist/
	rm -f dist/pkg/.gitignore
	@echo "wrote dist/"

test: setup test-rust test-scenarios test-web

test-rust: setup-rust
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown -p caplab --lib -- -D warnings
	cargo test --workspace

test-scenarios: build
	$(CAPLAB) check scenarios/*.json
	$(CAPLAB) fuzz raft --seeds 1000
	$(CAPLAB) fuzz twopc --seeds 1000
	$(CAPLAB) fuzz threepc --seeds 1000
	$(CAPLAB) fuzz saga --seeds 1000
	$(CAPLAB) fuzz paxos --seeds 1000
	$(CAPLAB) fuzz multipaxos --seeds 1000
	$(CAPLAB) fuzz zab --seeds 1000
	$(CAPLAB) fuzz gossip --seeds 1000
	$(CAPLAB) fuzz swim --seeds 1000
	$(CAPLAB) fuzz lease --seeds 1000
	$(CAPLAB) fuzz ha --seeds 1000
	$(CAPLAB) fuzz services --seeds 1000
	$(CAPLAB) trials gossip --seeds 100
	$(CAPLAB) trials swim --seeds 1000

# The browser tests compare the page's trace hashes with the native CLI's.
test-web: build wasm vendor setup-browser setup-npm
	cd web && node --test --test-concurrency=1 tests/

# make fuzz [PROTOCOL=twopc] [SEEDS=5000] [START=0]
fuzz: build
	$(CAPLAB) fuzz $${PROTOCOL:-raft} --seeds $${SEEDS:-1000} --start $${START:-0}

bench: build wasm vendor setup-browser setup-npm
	$(CAPLAB) bench
	cd web && node bench/run.mjs

clean:
	cargo clean
	rm -rf web/pkg dist
