# Thin wrapper over CMake so the README's two commands stay short:
#   make run   - install what is missing, build, start the main job
#   make test  - install what is missing, build, run every test (ctest), then the
#                whole suite again under ASan + UBSan (test-asan)
#   make install [PREFIX=/usr/local] [DESTDIR=...], make uninstall
# Hardening (fuzz/README.md, docs/SECURITY.md):
#   make test-asan                 the suite in build-asan (-DCATDOG_SANITIZE=ON)
#   make fuzz-build                the libFuzzer harnesses in build-fuzz (clang)
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_HARNESSES="image ..."]   long fuzz runs, one at a time
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
FUZZ_SECONDS ?= 600
FUZZ_HARNESSES ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

.PHONY: all deps build run test bench clean asan test-asan fuzz-build fuzz install uninstall

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]: see CMakeLists.txt for what
# goes where; make uninstall [DESTDIR=...] removes exactly the files the last
# install wrote (cmake's manifest lists them without DESTDIR: give the same one).
PREFIX ?= /usr/local
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

uninstall:
	@[ -f $(BUILD)/install_manifest.txt ] || { echo "uninstall: nothing installed from $(BUILD) (no install_manifest.txt)"; exit 1; }
	@while IFS= read -r f || [ -n "$$f" ]; do rm -f -- "$(DESTDIR)$$f" && echo "-- Removed: $(DESTDIR)$$f"; done <$(BUILD)/install_manifest.txt
	@rm -f $(BUILD)/install_manifest.txt

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

run: build
	@scripts/run.sh $(BUILD)/catdog

# The short fuzz runs in the suite (tests/fuzz/test_run_*.sh) use build-fuzz.
test: build fuzz-build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1200
	@$(MAKE) --no-print-directory test-asan

# Everything but the short fuzz runs (already sanitized, run once above), with
# the suppressions in tests/sanitizers/ (set by CMakeLists.txt).
test-asan: deps
	@[ -f build-asan/Makefile ] || cmake -S . -B build-asan $(CMAKE_FLAGS) -DCATDOG_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS) -- --no-print-directory
	@cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 2400 -E '^fuzz/test_run_'

asan: test-asan

# clang + libFuzzer are optional: without them the fuzz tests skip (exit 77).
FUZZ_PROBE = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' | \
	clang -x c -fsanitize=fuzzer,address,undefined - -o /dev/null 2>/dev/null
fuzz-build: deps
	@if $(FUZZ_PROBE); then \
	  [ -f build-fuzz/Makefile ] || CC=clang cmake -S . -B build-fuzz $(CMAKE_FLAGS) -DCATDOG_FUZZ=ON >/dev/null; \
	  cmake --build build-fuzz -j $(JOBS) --target fuzzers -- --no-print-directory; \
	else echo "fuzz-build: clang with libFuzzer not found; fuzzers not built, their tests will skip"; fi

# Each harness in turn (CPU is shared); all run even when one finds a crash.
fuzz: build fuzz-build
	@rc=0; for h in $(FUZZ_HARNESSES); do \
	  CATDOG_FUZZ_SECONDS=$(FUZZ_SECONDS) CATDOG_BIN=$(CURDIR)/$(BUILD)/catdog \
	    CATDOG_SOURCE_DIR=$(CURDIR) tests/fuzz/fuzz_run.sh $$h || rc=1; done; exit $$rc

bench: deps
	@CATDOG_BENCH_DEPS=1 scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)             # engine: inference and training step vs PyTorch
	@bench/train_bench.sh $(BUILD)     # training throughput and one epoch vs PyTorch
	@bench/transfer_bench.sh $(BUILD)  # SqueezeNet feature extraction vs PyTorch
	@bench/web_bench.sh $(BUILD)       # uploads/s with wrk vs the Flask peers

clean:
	rm -rf $(BUILD) build-asan build-fuzz
