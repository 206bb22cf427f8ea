# coola-tracker: the two commands are `make demo` and `make test`.
# Every target installs what it needs and skips what is already there, so a
# fresh machine (Debian, root, rustup, Node 20) needs nothing done by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# wasm-bindgen-cli must match the wasm-bindgen crate pinned in Cargo.toml.
WASM_BINDGEN_VERSION := 0.2.130
WASM_PACK_VERSION := 0.15.1
CARGO_BIN := $(HOME)/.cargo/bin
export PATH := $(CARGO_BIN):$(CURDIR)/tools/node_modules/.bin:$(PATH)

WASM_PACK := wasm-pack
# The shipped wasm has no std (see src/slim.rs).
SLIM := --no-default-features --features slim
# --zero-filled-memory: a fresh instance's memory is zeros; --low-memory-unused: Rust puts
# nothing below 1 KiB (the stack sits under its data). Not -tnh: a trap (out of
# memory) must stay a trap. Measured in the commit that set these flags.
# --strip-producers / --strip-target-features: custom sections no runtime reads (~230 B raw).
# --one-caller-inline-max-function-size=20: functions with one caller stay functions
# unless tiny; ~1.5 KB less gzip than -Oz's inlining of every one-caller function
# (measured 0 to 100 with -Oz and -Os). -Oz rather than -Os since the shell's cuts
# (issue 10: no Closure, short names): 63 B less gzip (-Os with
# --merge-similar-functions: 56; -Oz with 15 or 25 instead of 20: 36 and 12 more).
# Then --flatten --rereloop -O4 -Oz: the control flow rebuilt by the relooper,
# optimised by -O4 (-O3 and the flat-IR passes), then shrunk by -Oz again: 214 B
# less gzip by make size (-Oz -Oz after the relooper: 113; quick web build: -O3
# -Oz 75 more than -O4 -Oz, a second flatten/rereloop round 12 more, -O4 -Oz
# without the relooper 180 more). track() in the tight loop the same within
# noise (tests/bench/ab.mjs --node, 400 rounds: 7.74 against 7.84 µs median).
WASM_OPT_FLAGS := -Oz --one-caller-inline-max-function-size=20 --converge --flatten --rereloop -O4 -Oz --zero-filled-memory --low-memory-unused --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --strip-producers --strip-target-features
DEMO_PORT ?= 8787
# Ports of the collector the wasm test tiers run against.
WASM_NODE_PORT ?= 18787
WASM_CHROME_PORT ?= 18788
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: help tools rust-tools node-tools browser build package test test-host test-lint test-collector test-tools \
        test-wasm-node test-wasm-chrome test-package test-demo demo bench size clean test-edge bench-edge

help:
	@echo "make demo   build, start the local collector and the demo page, print the URL"
	@echo "make test   every test tier (installs what is missing)"
	@echo "make build  the release npm package in pkg/"
	@echo "make bench  size and speed figures"

## ---- installs -----------------------------------------------------------

tools: rust-tools node-tools

rust-tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --locked --force \
	    || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi
	@if [ "$$(wasm-pack --version 2>/dev/null)" != "wasm-pack $(WASM_PACK_VERSION)" ]; then \
	  echo "installing wasm-pack $(WASM_PACK_VERSION)"; \
	  cargo install wasm-pack --version $(WASM_PACK_VERSION) --locked --force \
	    || cargo install wasm-pack --version $(WASM_PACK_VERSION) --force; \
	fi

node-tools: tools/node_modules/.installed

tools/node_modules/.installed: tools/package.json
	cd tools && npm install --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium and ChromeDriver (never a browser downloaded by a test tool).
browser:
	@if ! command -v chromium >/dev/null || [ ! -x $(CHROMEDRIVER) ]; then \
	  echo "installing chromium and chromium-driver"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

## ---- build ---------------------------------------------------------------

# The release package: web build (browsers, bundlers, workerd), Node build and
# the edge collector's build (coola-tracker/edge: the web build plus the cargo
# feature `edge`, so pages never carry it), each optimised with wasm-opt from
# the npm package binaryen, assembled in pkg/. The edge build goes first: the
# cargo artifact left last is the browser one, which `wasm-named` measures.
# Around wasm-opt, tools/wasm-names.mjs drops the exports no JS reads (so
# wasm-opt can drop what they held), names the snippet's two `_` and `$`, and
# takes out of the glue the imports wasm-opt removed, and out of the .wasm the data
# only removed code read (shown whole by the module before wasm-opt, which the
# exports step leaves in DIR.pre-opt.wasm); pkg-template/shorten.mjs
# (in assemble) then gives the imports, modules and other exports short names.
# Last, tools/reorder.mjs orders the shipped browser wasm's functions so that
# alike bodies sit close together and gzip finds them (cached by the input's
# hash).
build: tools
	$(WASM_PACK) build --mode no-install --release --target web --out-dir target/pkg-edge --no-pack -- $(SLIM) --features edge
	$(WASM_PACK) build --mode no-install --release --target web --out-dir target/pkg-web --no-pack -- $(SLIM)
	$(WASM_PACK) build --mode no-install --release --target nodejs --out-dir target/pkg-node --no-pack -- $(SLIM)
	for d in target/pkg-web target/pkg-node target/pkg-edge; do \
	  node tools/wasm-names.mjs exports $$d; \
	  wasm-opt $(WASM_OPT_FLAGS) $$d/coola_tracker_bg.wasm -o $$d/coola_tracker_bg.wasm; \
	  node tools/wasm-names.mjs imports $$d; \
	done
	node pkg-template/assemble.mjs
	node tools/reorder.mjs pkg/web/coola_tracker_bg.wasm

package: build

## ---- tests ---------------------------------------------------------------

test: tools browser
	$(MAKE) --no-print-directory test-lint test-host test-collector test-tools test-wasm-node test-wasm-chrome \
	  test-package test-demo test-security test-soak test-edge
	@echo "make test: every tier passed"

test-lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown --features edge -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features slim -- -D warnings
	cargo clippy --tests --target wasm32-unknown-unknown -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

test-host:
	cargo test

test-collector:
	node --test www/collector/

# The build's own tools (tools/reorder.mjs).
test-tools: tools
	node --test tests/tools/

test-wasm-node:
	tests/with-collector.sh $(WASM_NODE_PORT) $(WASM_PACK) test --mode no-install --node

test-wasm-chrome: browser
	WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=120 tests/with-collector.sh $(WASM_CHROME_PORT) \
	  $(WASM_PACK) test --mode no-install --headless --chrome --chromedriver $(CHROMEDRIVER)

# The package as users get it: `npm pack` of pkg/, installed by each test
# into a temp project (Vite app in Chromium, Node ESM/CJS, a Worker in
# workerd through Miniflare, tsc --strict, the cooladata drop-in, page unload).
test-package: build browser
	rm -rf target/npm-pack && mkdir -p target/npm-pack
	npm pack ./pkg --pack-destination target/npm-pack --loglevel=error
	COOLA_TARBALL="$$(ls $(CURDIR)/target/npm-pack/coola-tracker-*.tgz)" node --test tests/package/

# coola-tracker/edge (the collector Worker on Cloudflare Queues) in workerd
# through Miniflare, from the packed tarball, against the local collector as
# CoolaData: every HTTP and consumer rule, the browser tracker through it,
# concurrent pages, the soak fault profile, the example's wrangler.toml.
test-edge: build browser
	rm -rf target/npm-pack-edge && mkdir -p target/npm-pack-edge
	npm pack ./pkg --pack-destination target/npm-pack-edge --loglevel=error
	COOLA_TARBALL="$$(ls $(CURDIR)/target/npm-pack-edge/coola-tracker-*.tgz)" node --test tests/edge/

# The demo page driven in headless Chromium against its own collector.
test-demo: build browser
	node www/demo/smoke.mjs

## ---- demo, figures -------------------------------------------------------

demo: build
	@echo "starting the local collector and the demo page..."
	node www/collector/collector.mjs --host 127.0.0.1 --port $(DEMO_PORT) --static www/demo --static-mount /pkg=pkg

# The weight and its budget; the breakdown of the wasm by module reads the
# same module built with names (wasm-bindgen --keep-debug, wasm-opt -g).
size: build wasm-named
	node tests/bench/size.mjs target/size/named.wasm

bench: build browser wasm-named
	COOLA_NAMED_WASM=target/size/named.wasm node tests/bench/bench.mjs

.PHONY: wasm-named
wasm-named: build
	rm -rf target/size && mkdir -p target/size
	wasm-bindgen --keep-debug --target web --out-dir target/size target/wasm32-unknown-unknown/release/coola_tracker.wasm
	node tools/wasm-names.mjs exports target/size && rm target/size.pre-opt.wasm
	wasm-opt $(WASM_OPT_FLAGS) -g target/size/coola_tracker_bg.wasm -o target/size/named.wasm

# coola-tracker/edge in Miniflare: events/s and CoolaData requests per 1,000
# events against the number of concurrent pages (tests/edge/bench.mjs).
bench-edge: build
	rm -rf target/npm-pack-edge && mkdir -p target/npm-pack-edge
	npm pack ./pkg --pack-destination target/npm-pack-edge --loglevel=error
	COOLA_TARBALL="$$(ls $(CURDIR)/target/npm-pack-edge/coola-tracker-*.tgz)" node tests/edge/bench.mjs

clean:
	cargo clean
	rm -rf pkg tools/node_modules

## ---- fault injection: no event lost (tests/soak) --------------------------

.PHONY: soak test-soak

# Long run against a failing, restarting, absent collector; prints the figures.
soak: build browser
	node tests/soak/soak.mjs --long

# Short run with assertions (node:test), for `make test`.
test-soak: build browser
	node --test tests/soak/soak.test.mjs

## ---- fuzzing --------------------------------------------------------------

# `make fuzz`: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (stable
# toolchain, RUSTC_BOOTSTRAP=1); prints executions, coverage and findings per
# target and fails if one crashed. Crashes land in fuzz/regressions/<target>/,
# which `cargo test --test fuzz_regressions` replays.
FUZZ_SECONDS ?= 60

.PHONY: fuzz
fuzz:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked || cargo install cargo-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

## ---- security (tests/security) ------------------------------------------

.PHONY: test-security

# The package as built, in Chromium and Node (node:test + playwright-core):
# works under script-src 'self' 'wasm-unsafe-eval' (and no eval in the
# shipped JS), the app key in no error / console / storage, tampered
# localStorage queues refused unsent, https-only endpoints.
test-security: build browser
	node --test tests/security/
