# Thin wrapper over CMake so the README's two commands stay short:
#   make run   - install what is missing, build, start the main job
#   make test  - install what is missing, build, run every test (ctest)
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build run test bench clean asan

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

run: build
	@scripts/run.sh $(BUILD)/catdog

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1200

bench: deps
	@CATDOG_BENCH_DEPS=1 scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
