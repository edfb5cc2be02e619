# Thin wrapper over CMake + Ninja. `make demo` and `make test` install what they need first.
BUILD      ?= build
SAN_BUILD  ?= build-sanitize
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build demo test bench test-sanitize fuzz test-arm64 clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job on the embedded default: three local nodes with different memory quotas find each
# other, plan a generated llama model across them, generate, and check the tokens against a CPU run.
demo: build
	./$(BUILD)/src/apps/crossgpu devices
	./$(BUILD)/src/apps/crossgpu demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1

bench: build
	./$(BUILD)/bench/crossgpu-bench --json $(BUILD)/bench-results.json
	./$(BUILD)/bench/crossgpu-sched-bench --json $(BUILD)/sched-bench-results.json
	./$(BUILD)/bench/crossgpu-remote-bench --json $(BUILD)/remote-bench-results.json
	./$(BUILD)/bench/crossgpu-llm-bench --json $(BUILD)/llm-bench-results.json
	./$(BUILD)/bench/crossgpu-telemetry-bench --seconds 20 --json $(BUILD)/telemetry-bench-results.json

# ASan + UBSan (LeakSanitizer included) over the whole suite, lavapipe and validation layers too.
# The Python and Java suites are left out: an instrumented module inside an uninstrumented python3
# or JVM needs the ASan runtime preloaded into the interpreter, whose own leaks then drown ours.
test-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCROSSGPU_SANITIZE=ON -DCROSSGPU_BUILD_BENCH=OFF \
	  -DCROSSGPU_WITH_BINDINGS=OFF $(CMAKE_ARGS)
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 1
	$(MAKE) fuzz

# libFuzzer (clang) over every decoder of untrusted input, each for FUZZ_SECONDS. New inputs go
# to a scratch folder first so the checked-in corpora only grow on purpose.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZERS      := fuzz_invite_token fuzz_csr fuzz_cluster_wire fuzz_gguf fuzz_data_frame fuzz_tokenizer fuzz_revocations
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCROSSGPU_FUZZ=ON \
	  -DCROSSGPU_BUILD_TESTS=OFF -DCROSSGPU_BUILD_BENCH=OFF -DCROSSGPU_WITH_BINDINGS=OFF $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target crossgpu_fuzz
	set -e; for f in $(FUZZERS); do \
	  corpus=fuzz/corpus/$${f#fuzz_}; scratch=$(FUZZ_BUILD)/scratch/$$f; mkdir -p $$scratch $$corpus; \
	  echo "== $$f for $(FUZZ_SECONDS) s"; \
	  ./$(FUZZ_BUILD)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 $$scratch $$corpus 2>&1 | tail -n 3; \
	done

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
	cd $(ARM_BUILD) && CROSSGPU_WAIT_TIMEOUT_S=600 ctest --output-on-failure -j 1 --timeout 3000

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(ARM_BUILD) $(FUZZ_BUILD)
