# Thin wrapper over CMake + Ninja. `make demo` and `make test` install what they need first.
BUILD      ?= build
SAN_BUILD  ?= build-sanitize
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build demo test bench test-sanitize test-arm64 clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/src/apps/crossgpu devices
	./$(BUILD)/src/apps/crossgpu selftest

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1

bench: build
	./$(BUILD)/bench/crossgpu-bench --json $(BUILD)/bench-results.json

# ASan + UBSan (LeakSanitizer included) over the whole suite, lavapipe and validation layers too.
test-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCROSSGPU_SANITIZE=ON -DCROSSGPU_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 1

# aarch64 cross build of the device layer, kernels, scheduling, telemetry and the C ABI with
# their tests, run under qemu-user on lavapipe for arm64. Slow (emulated LLVM JIT); not part of
# `make test`. The cluster layers and the Python/Java bindings are left out (their arm64 -dev
# packages are not co-installable with the host's).
ARM_BUILD ?= build-arm64
test-arm64: deps
	bash scripts/install-arm64-deps.sh
	cmake -S . -B $(ARM_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake \
	  -DCROSSGPU_WITH_NETWORK=OFF -DCROSSGPU_WITH_BINDINGS=OFF -DCROSSGPU_BUILD_BENCH=OFF
	cmake --build $(ARM_BUILD) -j $(JOBS)
	cd $(ARM_BUILD) && ctest --output-on-failure -j 1 --timeout 3000

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(ARM_BUILD)
