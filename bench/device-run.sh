#!/bin/bash
# What one device-tool call runs on a GPU machine (see docs/PERFORMANCE.md): the Vulkan loader and
# node unpacked from the carried bundle, the kernel and model tests with the validation layers
# on, then crossgpu against llama.cpp on the model shapes. Not part of make test.
#
#   bench/device-run.sh BUNDLE_DIR OUT_DIR [full|llm|short|one|serve|serve,short|...]
#   (llm: only crossgpu against llama.cpp; short: the kernels and the two decode runs; one: the
#   q8_0 decode run alone, for a scarce machine; serve: crossgpu-serve-bench beside llama.cpp at
#   1/4/8/16 concurrent streams on the bench shape and the 8 x 4096 shape, no llm runs unless
#   another mode is named with it, comma-separated)
#
# A candidate build in BUNDLE_DIR/bin-new (crossgpu-bench, crossgpu-llm-bench,
# crossgpu-serve-bench) is measured in the same call on the same models after the baseline, so
# that a change is judged on one machine. SERVE_TOKENS (default 64) sets the tokens per stream;
# SKIP_KERNELS=1 leaves out the kernel table of short and full; NEW_TESTS names test binaries of
# bin-new to run first, with the validation layers on.
set -uo pipefail
bundle="$1"; out="$2"; modes="${3:-full}"
has() { [[ ",$modes," == *",$1,"* ]]; }
mode=full; for m in llm short one; do has $m && mode=$m; done
if has serve && ! has llm && ! has short && ! has one && ! has full; then mode=serve; fi
for f in "$bundle"/gl/*.deb; do dpkg -x "$f" / ; done
ldconfig
# The NVIDIA driver's Vulkan ICD where the image keeps it (the loader's default search misses it).
icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -n 1)
if [ -n "$icd" ]; then
  export VK_DRIVER_FILES="$icd"
fi
mkdir -p /tmp/peer && tar -C /tmp/peer -xJf "$bundle/peer.tar.xz"
# Binaries and libraries may travel xz-compressed (bench/device-bundle.sh --xz) to fit the 64 MiB.
for part in bin bin-new lib; do
  if [ -f "$bundle/$part.tar.xz" ]; then mkdir -p "$bundle/$part" && tar -C "$bundle/$part" -xJf "$bundle/$part.tar.xz"; fi
done
export PATH=/tmp/peer/bin:$PATH
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin="$bundle/bin"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
# NEW_TESTS: test binaries of the candidate build (bin-new) to run first, validation layers on.
for t in ${NEW_TESTS:-}; do
  CROSSGPU_VULKAN_VALIDATION=1 "$bundle/bin-new/$t" --gtest_brief=1 >> "$out/tests.log" 2>&1
  echo "$t (candidate) rc=$?" | tee -a "$out/tests.log"
done
if [ "$mode" = full ]; then
  for t in test_ops_weights test_llm_forward test_ops_attention test_device_dispatch; do
    CROSSGPU_VULKAN_VALIDATION=1 "$bin/$t" --gtest_brief=1 >> "$out/tests.log" 2>&1; echo "$t rc=$?" | tee -a "$out/tests.log"
  done
fi
serve() {  # name, crossgpu-serve-bench options: baseline (beside llama.cpp), then the candidate
  local name="$1"; shift
  local streams=(--streams 1 --streams 4 --streams 8 --streams 16 --tokens "${SERVE_TOKENS:-64}" --repeats 3)
  node bench/serve-vs-llamacpp.mjs --out "/tmp/svl-$name" --peer /tmp/peer --bench "$bin/crossgpu-serve-bench" -- \
    --backend vulkan "${streams[@]}" "$@" > "/tmp/serve-$name.txt" 2>&1
  mkdir -p /tmp/results && cp "/tmp/svl-$name/serve-vs-llamacpp.json" "/tmp/results/serve-$name.json" 2>/dev/null
  { echo "== serve $name"; cat "/tmp/serve-$name.txt"; } >> "$out/serve.txt"
  grep -vE "^\s*$" "/tmp/serve-$name.txt" | tail -n 22
  if [ -x "$bundle/bin-new/crossgpu-serve-bench" ]; then
    "$bundle/bin-new/crossgpu-serve-bench" --backend vulkan "${streams[@]}" "$@" \
      --json "/tmp/results/serve-$name.candidate.json" > "/tmp/serve-$name.candidate.txt" 2>&1
    { echo "== serve $name (candidate)"; cat "/tmp/serve-$name.candidate.txt"; } >> "$out/serve.txt"
    echo "candidate:"; tail -n 9 "/tmp/serve-$name.candidate.txt"
  fi
}
if has serve; then
  serve bench-q8_0 --layers 8 --embedding 1024 --ffn 2816 --heads 16 --kv-heads 4
  serve q8_0-4096 --layers 8 --embedding 4096 --ffn 14336 --heads 32 --kv-heads 8
  if [ "$mode" = serve ]; then tar -C /tmp -cf "$out/results.tar" results 2>/dev/null; exit 0; fi
fi
if [ "$mode" != llm ] && [ "$mode" != one ] && [ -z "${SKIP_KERNELS:-}" ]; then
  "$bin/crossgpu-bench" --skip-transfers --json "$out/kernels.json" > "$out/kernels.txt" 2>&1 || true
  grep -E "matvec_(fused|weights)" "$out/kernels.txt"
  if [ -x "$bundle/bin-new/crossgpu-bench" ]; then
    "$bundle/bin-new/crossgpu-bench" --skip-transfers --json "$out/kernels-new.json" > "$out/kernels-new.txt" 2>&1 || true
    echo "== candidate"; grep -E "matvec_(fused|weights)" "$out/kernels-new.txt"
  fi
fi
run() {  # name, crossgpu-llm-bench options
  local name="$1"; shift
  node bench/llm-vs-llamacpp.mjs --out "/tmp/lvl-$name" --peer /tmp/peer --bench "$bin/crossgpu-llm-bench" -- \
    --gpus-only --stages 1 "$@" > "/tmp/$name.txt" 2>&1
  mkdir -p /tmp/results && cp "/tmp/lvl-$name/llm-vs-llamacpp.json" "/tmp/results/$name.json" 2>/dev/null
  cp "/tmp/lvl-$name/crossgpu.json" "/tmp/results/$name.crossgpu.json" 2>/dev/null
  { echo "== $name"; cat "/tmp/$name.txt"; } >> "$out/runs.txt"
  tail -n 5 "/tmp/$name.txt"
  if [ -x "$bundle/bin-new/crossgpu-llm-bench" ]; then
    "$bundle/bin-new/crossgpu-llm-bench" --gpus-only --stages 1 "$@" --json "/tmp/results/$name.candidate.json" \
      > "/tmp/$name.candidate.txt" 2>&1
    { echo "== $name (candidate)"; cat "/tmp/$name.candidate.txt"; } >> "$out/runs.txt"
    echo "candidate:"; tail -n 3 "/tmp/$name.candidate.txt"
  fi
}
shape=(--layers 8 --embedding 4096 --ffn 14336 --heads 32 --kv-heads 8)
run q8_0-ctx128 "${shape[@]}" --type q8_0 --prompt-tokens 64 --decode-tokens 64 --batch 64 --repeats 3
[ "$mode" = one ] || run q4_k-ctx128 "${shape[@]}" --type q4_k --prompt-tokens 64 --decode-tokens 64 --batch 64 --repeats 3
[ "$mode" = short ] || [ "$mode" = one ] || run q8_0-prefill512 "${shape[@]}" --type q8_0 --prompt-tokens 512 --decode-tokens 16 --batch 512 --repeats 3
if [ "$mode" = full ]; then
  run q4_0-ctx128 "${shape[@]}" --type q4_0 --prompt-tokens 64 --decode-tokens 64 --batch 64 --repeats 3
  run q8_0-ctx4096 "${shape[@]}" --type q8_0 --prompt-tokens 3968 --decode-tokens 64 --batch 512 --repeats 2
  run bench-q8_0 --layers 8 --embedding 1024 --ffn 2816 --heads 16 --kv-heads 4 --type q8_0 --prompt-tokens 64 --decode-tokens 128 --batch 64 --repeats 3
fi
tar -C /tmp -cf "$out/results.tar" results 2>/dev/null
