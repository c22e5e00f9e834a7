# Thin wrapper over CMake so the README's two commands stay short:
#   make run   - install what is missing, build, start the main job
#   make test  - install what is missing, build, run every test (ctest), then the
#                whole suite again under ASan + UBSan (test-asan)
#   make install [PREFIX=/usr/local] [DESTDIR=...], make uninstall
# Hardening (fuzz/README.md, docs/SECURITY.md):
#   make test-asan                 the suite in build-asan (-DCATDOG_SANITIZE=ON)
#   make test-tsan                 the threaded tests in build-tsan (-DCATDOG_TSAN=ON)
#   make fuzz-build                the libFuzzer harnesses in build-fuzz (clang)
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_HARNESSES="image ..."]   long fuzz runs, one at a time
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
FUZZ_SECONDS ?= 600
FUZZ_HARNESSES ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

.PHONY: all deps build run test bench clean asan test-asan test-tsan fuzz-build fuzz install uninstall

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
# scripts/ctest-skips.sh runs ctest, then counts the skips and fails when
# ../shared is present but a test that needs it skipped.
test: build fuzz-build
	@scripts/ctest-skips.sh $(BUILD) --output-on-failure -j $(JOBS) --timeout 1200
	@$(MAKE) --no-print-directory test-asan

# Everything but the short fuzz runs (already sanitized, run once above), with
# the suppressions in tests/sanitizers/ (set by CMakeLists.txt).
test-asan: deps
	@[ -f build-asan/Makefile ] || cmake -S . -B build-asan $(CMAKE_FLAGS) -DCATDOG_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS) -- --no-print-directory
	@scripts/ctest-skips.sh build-asan --output-on-failure -j $(JOBS) --timeout 2400 -E '^fuzz/test_run_'

asan: test-asan

# ThreadSanitizer (build-tsan, -DCATDOG_TSAN=ON) on the tests that run threads:
# the inference pool, the HTTP server (script tests drive a TSan-built catdog),
# predictor sessions, the training data loader and the max pooling kernels on
# an OpenMP team (engine/test_pool_max).  Any report fails the run
# and is printed from build-tsan/tsan-reports/ (tests/sanitizers/tsan.supp).
TSAN_TESTS ?= ^(engine/test_pool_max|web/test_pool|web/test_http_(routes|limits|faults|restart|access|reload)|faults/test_fault_clients|predict/test_predictor|data/test_dataset)$$
TSAN_TARGETS ?= catdog engine_test_pool_max web_test_fixtures web_test_pool predict_test_predictor data_test_dataset
test-tsan: deps
	@[ -f build-tsan/Makefile ] || cmake -S . -B build-tsan $(CMAKE_FLAGS) -DCATDOG_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target $(TSAN_TARGETS) -- --no-print-directory
	@rm -rf build-tsan/tsan-reports && mkdir -p build-tsan/tsan-reports
	@cd build-tsan && rc=0; ctest --output-on-failure -j $(JOBS) --timeout 2400 -R '$(TSAN_TESTS)' || rc=1; \
	  if [ -n "$$(ls tsan-reports)" ]; then cat tsan-reports/*; echo "test-tsan: ThreadSanitizer reports above"; rc=1; fi; \
	  exit $$rc

# clang + libFuzzer come from scripts/install-deps.sh: without them this fails,
# and so do the fuzz tests (a missing tool is a failure, not a skip).
FUZZ_PROBE = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' | \
	clang -x c -fsanitize=fuzzer,address,undefined - -o /dev/null 2>/dev/null
fuzz-build: deps
	@if $(FUZZ_PROBE); then \
	  [ -f build-fuzz/Makefile ] || CC=clang cmake -S . -B build-fuzz $(CMAKE_FLAGS) -DCATDOG_FUZZ=ON >/dev/null; \
	  cmake --build build-fuzz -j $(JOBS) --target fuzzers -- --no-print-directory; \
	else echo "fuzz-build: clang with libFuzzer not found (scripts/install-deps.sh installs clang libfuzzer-14-dev libclang-rt-14-dev)" >&2; exit 1; fi

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
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
