#!/bin/bash
# What one device-tool call runs on a GPU machine (see docs/PERFORMANCE.md): the Vulkan loader and
# node unpacked from the carried bundle, the kernel and model tests with the validation layers
# on, then crossgpu against llama.cpp on the model shapes. Not part of make test.
#
#   bench/device-run.sh BUNDLE_DIR OUT_DIR [quick|llm|short]   (llm: only crossgpu against llama.cpp;
#   short: the kernels and the two decode runs; one: the q8_0 decode run alone, for a scarce machine)
#
# A candidate build in BUNDLE_DIR/bin-new (crossgpu-bench, crossgpu-llm-bench) is measured in the
# same call on the same models after the baseline, so that a change is judged on one machine.
set -uo pipefail
bundle="$1"; out="$2"; mode="${3:-full}"
for f in "$bundle"/gl/*.deb; do dpkg -x "$f" / ; done
ldconfig
# The NVIDIA driver's Vulkan ICD where the image keeps it (the loader's default search misses it).
icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -n 1)
if [ -n "$icd" ]; then
  export VK_DRIVER_FILES="$icd"
fi
mkdir -p /tmp/peer && tar -C /tmp/peer -xJf "$bundle/peer.tar.xz"
export PATH=/tmp/peer/bin:$PATH
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin="$bundle/bin"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
if [ "$mode" = full ]; then
  for t in test_ops_weights test_llm_forward test_ops_attention test_device_dispatch; do
    CROSSGPU_VULKAN_VALIDATION=1 "$bin/$t" --gtest_brief=1 >> "$out/tests.log" 2>&1; echo "$t rc=$?" | tee -a "$out/tests.log"
  done
fi
if [ "$mode" != llm ] && [ "$mode" != one ]; then
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
