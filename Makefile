# Thin wrapper over CMake + Ninja. `make demo` and `make test` install what they need first.
BUILD      ?= build
SAN_BUILD  ?= build-sanitize
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build build-tests demo test bench bench-llm test-sanitize test-sanitize-suite test-sanitize-ci san-configure fuzz test-arm64 arm64-build arm64-package-build test-arm64-node package package-arm64 clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: $(BUILD)/build.ninja

# Everything, the benchmarks included (bench, bench-llm and the check-* targets run them).
build: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target all crossgpu_benchmarks

# What ctest runs: `all` leaves the benchmarks out (no test runs one; CMakeLists.txt).
build-tests: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job on the embedded default: three local nodes with different memory quotas find each
# other, plan a generated llama model across them, generate, and check the tokens against a CPU run.
demo: build
	./$(BUILD)/src/apps/crossgpu devices
	./$(BUILD)/src/apps/crossgpu demo

test: build-tests
	@bash scripts/install-test-clients.sh $(BUILD)/npm-test
	cd $(BUILD) && ctest --output-on-failure -j 1

# The Debian package (CPack; cmake/Package.cmake): the CLI, libcrossgpu_c with its header, CMake
# package and pkg-config file, and the node service. Written to $(BUILD)/packages/.
package: build
	cd $(BUILD) && cpack -G DEB

bench: build
	./$(BUILD)/bench/crossgpu-bench --json $(BUILD)/bench-results.json
	./$(BUILD)/bench/crossgpu-sched-bench --json $(BUILD)/sched-bench-results.json
	./$(BUILD)/bench/crossgpu-remote-bench --json $(BUILD)/remote-bench-results.json
	./$(BUILD)/bench/crossgpu-llm-bench --json $(BUILD)/llm-bench-results.json
	./$(BUILD)/bench/crossgpu-telemetry-bench --seconds 20 --json $(BUILD)/telemetry-bench-results.json

# crossgpu against llama.cpp (node-llama-cpp's prebuilt Vulkan and CPU backends, pinned, installed
# into build/npm-bench) on the same generated GGUF files, devices, prompts and token counts:
# the demo model, the 96.6 MB bench shape, and on a machine with a GPU the 8 x 4096 shapes.
# Never part of make test. Tables on stdout, JSON in build/llm-vs-llamacpp-*/.
NODE_LLAMA_CPP ?= 3.21.1
LLM_SHAPE_BENCH := --layers 8 --embedding 1024 --ffn 2816 --heads 16 --kv-heads 4
LLM_SHAPE_LARGE := --layers 8 --embedding 4096 --ffn 14336 --heads 32 --kv-heads 8 --gpus-only
bench-llm: build
	@mkdir -p $(BUILD)/npm-bench
	@test -f $(BUILD)/npm-bench/node_modules/node-llama-cpp/package.json || \
	  (cd $(BUILD)/npm-bench && npm i -E --ignore-scripts --no-audit --no-fund node-llama-cpp@$(NODE_LLAMA_CPP)) || \
	  echo "bench-llm: node-llama-cpp could not be installed; llama.cpp's side will be reported missing"
	node bench/llm-vs-llamacpp.mjs --out $(BUILD)/llm-vs-llamacpp-demo -- --stages 1 \
	  --layers 8 --embedding 512 --ffn 1536 --heads 8 --kv-heads 4 --prompt-tokens 64 --decode-tokens 64 --repeats 3
	node bench/llm-vs-llamacpp.mjs --out $(BUILD)/llm-vs-llamacpp-bench -- --stages 1 $(LLM_SHAPE_BENCH) \
	  --prompt-tokens 64 --decode-tokens 64 --batch 64 --repeats 3
	@if $(BUILD)/src/apps/crossgpu devices 2>/dev/null | grep -qE ' (discrete|integrated)'; then \
	  for t in q8_0 q4_0 q4_k; do \
	    node bench/llm-vs-llamacpp.mjs --out $(BUILD)/llm-vs-llamacpp-$$t -- --stages 1 $(LLM_SHAPE_LARGE) --type $$t \
	      --prompt-tokens 64 --decode-tokens 64 --batch 64 --repeats 3 || exit 1; \
	  done; \
	  node bench/llm-vs-llamacpp.mjs --out $(BUILD)/llm-vs-llamacpp-ctx4096 -- --stages 1 $(LLM_SHAPE_LARGE) \
	    --type q8_0 --prompt-tokens 3968 --decode-tokens 64 --batch 512 --repeats 2; \
	  node bench/llm-vs-llamacpp.mjs --out $(BUILD)/llm-vs-llamacpp-prefill -- --stages 1 $(LLM_SHAPE_LARGE) \
	    --type q8_0 --prompt-tokens 512 --decode-tokens 16 --batch 512 --repeats 3; \
	else echo "bench-llm: no GPU: the 8 x 4096 shapes are left out"; fi

# llama.cpp's token ids for the tokenizer oracle text set (tests/tokenizer_oracle): each pinned
# tokenizer package becomes a vocabulary-only GGUF (crossgpu-hf-tokenizer-gguf) that node-llama-cpp
# tokenizes on the CPU; the ids are checked in (expected_llama_cpp.json) and make test compares
# crossgpu against them. Not part of make test.
.PHONY: check-llama-cpp
check-llama-cpp: build
	@bash scripts/install-test-clients.sh $(BUILD)/npm-test
	@mkdir -p $(BUILD)/npm-bench
	@test -f $(BUILD)/npm-bench/node_modules/node-llama-cpp/package.json || \
	  (cd $(BUILD)/npm-bench && npm i -E --ignore-scripts --no-audit --no-fund node-llama-cpp@$(NODE_LLAMA_CPP))
	node tests/tokenizer_oracle/record_llama_cpp.mjs $(BUILD)/tests/crossgpu-hf-tokenizer-gguf $(BUILD)/npm-test \
	  $(BUILD)/npm-bench tests/tokenizer_oracle/texts.json $(BUILD)/tokenizer-oracle tests/tokenizer_oracle/expected_llama_cpp.json
	cd $(BUILD) && ctest -R 'test_model_tokenizer_(oracle|hf_fresh)' --output-on-failure

# crossgpu against llama.cpp on a generated model of every weight type (crossgpu-llm-bench writes
# the file; node-llama-cpp's CPU backend runs the same file, prompt and greedy decode): f32 and f16
# must give every token llama.cpp gives, the other types the first one (bench/llm-vs-llamacpp.mjs
# --check-tokens says why). Not part of make test.
.PHONY: check-llama-cpp-types
check-llama-cpp-types: build
	@mkdir -p $(BUILD)/npm-bench
	@test -f $(BUILD)/npm-bench/node_modules/node-llama-cpp/package.json || \
	  (cd $(BUILD)/npm-bench && npm i -E --ignore-scripts --no-audit --no-fund node-llama-cpp@$(NODE_LLAMA_CPP))
	node bench/llm-vs-llamacpp.mjs --out $(BUILD)/llm-vs-llamacpp-types --check-tokens -- --cpu-only --stages 1 \
	  --layers 4 --embedding 512 --ffn 1536 --heads 8 --kv-heads 4 --prompt-tokens 16 --decode-tokens 16 --batch 16 \
	  --type all

# crossgpu's weight decoders against llama.cpp's own (node-llama-cpp's prebuilt libggml-base.so,
# loaded by crossgpu-ggml-quant-check): every decoded element must be bit for bit equal; it also
# prints how far llama.cpp's activation-quantized dot products are from exact ones. Not in make test.
.PHONY: check-ggml-quant
check-ggml-quant: build
	@mkdir -p $(BUILD)/npm-bench
	@test -f $(BUILD)/npm-bench/node_modules/node-llama-cpp/package.json || \
	  (cd $(BUILD)/npm-bench && npm i -E --ignore-scripts --no-audit --no-fund node-llama-cpp@$(NODE_LLAMA_CPP))
	$(BUILD)/tests/crossgpu-ggml-quant-check $(BUILD)/npm-bench/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64

# llama.cpp's greedy tokens on a random-weight model of every architecture crossgpu reads
# (tests/support/arch_cases.hpp, written by crossgpu-arch-models): node-llama-cpp's CPU backend
# loads each file with llama.cpp's own tensor rules; the tokens are checked in
# (tests/arch_oracle/expected_llama_cpp.json) and test_llm_arch compares crossgpu against them.
# Then every architecture x weight type (tests/support/arch_type_matrix.hpp): tokens and
# log-probabilities into expected_matrix_llama_cpp.json, for test_llm_arch_types; and the models
# with a real vocabulary (tests/support/real_vocab_models.hpp, in build/arch-real-vocab): llama.cpp's
# ids of the rendered chat prompt, tokens and log-probabilities into
# expected_real_vocab_llama_cpp.json, for test_llm_arch_real_vocab.
# Not part of make test.
.PHONY: check-llama-cpp-arch
check-llama-cpp-arch: build
	@mkdir -p $(BUILD)/npm-bench
	@test -f $(BUILD)/npm-bench/node_modules/node-llama-cpp/package.json || \
	  (cd $(BUILD)/npm-bench && npm i -E --ignore-scripts --no-audit --no-fund node-llama-cpp@$(NODE_LLAMA_CPP))
	node tests/arch_oracle/record_llama_cpp.mjs $(BUILD)/tests/crossgpu-arch-models $(BUILD)/npm-bench \
	  $(BUILD)/arch-oracle tests/arch_oracle/expected_llama_cpp.json
	node tests/arch_oracle/record_llama_cpp.mjs $(BUILD)/tests/crossgpu-arch-models $(BUILD)/npm-bench \
	  $(BUILD)/arch-matrix tests/arch_oracle/expected_matrix_llama_cpp.json --matrix
	@bash scripts/install-test-clients.sh $(BUILD)/npm-test
	node tests/arch_oracle/record_llama_cpp.mjs $(BUILD)/tests/crossgpu-arch-models $(BUILD)/npm-bench \
	  $(BUILD)/arch-real-vocab tests/arch_oracle/expected_real_vocab_llama_cpp.json --real-vocab $(BUILD)/npm-test
	cd $(BUILD) && ctest -R 'test_llm_arch' --output-on-failure

# ASan + UBSan (LeakSanitizer included) over the whole suite, lavapipe and validation layers too.
# The Python and Java suites are left out: an instrumented module inside an uninstrumented python3
# or JVM needs the ASan runtime preloaded into the interpreter, whose own leaks then drown ours.
# Leaks are suppressed only in libraries that are not crossgpu's, by name (tests/sanitizer/lsan.supp;
# cmake/Sanitize.cmake keeps run-time loaded libraries loaded so that their names are known).
# Built with clang (-O0 -gline-tables-only): half GCC's compile time on the source files compared
# (the whole build gains less; docs/PACKAGING.md).
# test-sanitize-suite is the suite alone: on the 2-core VM (2026-12-07, build lock, nice -n 10)
# its build was 612 edges, 2053 s of summed edge time (~15.5 min wall), and its tests an estimated
# 30-35 min (the first 39 alone took 762 s), too long for .ci/run after make test; .ci/run runs
# test-sanitize-ci below (docs/PACKAGING.md, "CI and the sanitizer gate"). test-sanitize adds
# every fuzzer.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizer/lsan.supp
san-configure: deps
	CC=clang CXX=clang++ cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCROSSGPU_SANITIZE=ON -DCROSSGPU_BUILD_BENCH=OFF \
	  -DCROSSGPU_WITH_BINDINGS=OFF $(CMAKE_ARGS)
	@bash scripts/install-test-clients.sh $(BUILD)/npm-test
	@test -e $(SAN_BUILD)/npm-test || ln -s $(abspath $(BUILD))/npm-test $(SAN_BUILD)/npm-test

test-sanitize-suite: san-configure
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j 1

# The part of the sanitizer suite that .ci/run can afford after make test (docs/PACKAGING.md):
# the tests of code that reads untrusted input or manages connections and sessions (wire formats,
# GGUF, tokenizer, TLS/gRPC/data channel, hostile peers, grants, quotas, serve's HTTP, the C ABI,
# the CLI as a process), the leak canary, and only their targets. Measured on the 2-core VM
# (2026-12-07 16:50-17:00 UTC, build lock, nice -n 10): their build 426 edges, 1411 s of summed
# edge time (~12 min wall on 2 cores); these tests 213 s. test_recovery passed under the sanitizers in the same
# run but took 337 s (54 s in make test): it stays in test-sanitize-suite, which CI cannot afford.
# test_cluster_hostile is left out too: in the fresh-clone .ci/run of cdc9288 (2026-12-07 18:19 UTC)
# its 10 tests passed and LeakSanitizer then reported 12200 bytes in 51 OpenSSL allocations at exit
# (stacks end in libcrypto's CRYPTO_zalloc, so the owner is not known); it passed in the other
# three runs. Until the owner is found it runs in test-sanitize-suite only, not in a gate that must
# not fail at random, and no suppression hides it.
SAN_CI_TESTS := test_sanitizer_leak_canary test_device_errors test_device_memory test_capi test_capi_cluster \
  test_kernel_bounds_weights test_kernel_bounds_attention test_telemetry_protocol test_model_gguf \
  test_model_tokenizer test_model_chat_template test_serve_request test_serve_http test_serve_tls \
  test_serve_batching test_app_cli test_app_llm test_net_invite_token test_net_identity \
  test_net_grpc test_net_cli test_delay_relay test_liveness test_discovery_unit test_cluster_remote \
  test_cluster_processes test_cluster_data_channel test_cluster_revocation \
  test_cluster_weight_cache test_hardening
empty :=
space := $(empty) $(empty)
test-sanitize-ci: san-configure
	cmake --build $(SAN_BUILD) -j $(JOBS) --target $(patsubst test_sanitizer_leak_canary,leak_canary,$(SAN_CI_TESTS))
	cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j 1 -R '^($(subst $(space),|,$(SAN_CI_TESTS)))$$'

test-sanitize: test-sanitize-suite
	$(MAKE) fuzz

# libFuzzer (clang) over every decoder of untrusted input, each for FUZZ_SECONDS. New inputs go
# to a scratch folder first so the checked-in corpora only grow on purpose.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZERS      := fuzz_invite_token fuzz_csr fuzz_cluster_wire fuzz_gguf fuzz_data_frame fuzz_tokenizer fuzz_revocations fuzz_completion_request
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
# `make test`. The cluster layers and the bindings are left out of this test build: under qemu
# their timing-bound tests would measure the emulator.
ARM_BUILD ?= build-arm64
arm64-build: deps
	bash scripts/install-arm64-deps.sh
	cmake -S . -B $(ARM_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake \
	  -DCROSSGPU_WITH_NETWORK=OFF -DCROSSGPU_WITH_BINDINGS=OFF -DCROSSGPU_BUILD_BENCH=OFF
	cmake --build $(ARM_BUILD) -j $(JOBS)

test-arm64: arm64-build
	cd $(ARM_BUILD) && CROSSGPU_WAIT_TIMEOUT_S=600 ctest --output-on-failure -j 1 --timeout 3000

# The arm64 package: a cross build with the network layers (the CLI with every command, the
# node service, the C library), no tests; see docs/PACKAGING.md.
ARM_PACKAGE_BUILD ?= build-arm64-package
arm64-package-build: deps
	bash scripts/install-arm64-deps.sh
	cmake -S . -B $(ARM_PACKAGE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake \
	  -DCROSSGPU_WITH_NETWORK=ON -DCROSSGPU_WITH_BINDINGS=OFF -DCROSSGPU_BUILD_BENCH=OFF \
	  -DCROSSGPU_BUILD_TESTS=OFF
	cmake --build $(ARM_PACKAGE_BUILD) -j $(JOBS)

package-arm64: arm64-package-build
	cd $(ARM_PACKAGE_BUILD) && cpack -G DEB

# The arm64 package's node under qemu-user in a cluster with this machine's node: a model split
# over both, tokens equal to a local run's (tests/packaging/arm64_node_cluster.sh).
test-arm64-node: build arm64-package-build
	bash tests/packaging/arm64_node_cluster.sh $(BUILD) $(ARM_PACKAGE_BUILD) /usr/bin/python3

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(ARM_BUILD) $(ARM_PACKAGE_BUILD) $(FUZZ_BUILD)
