#!/bin/bash
# Fills the bundle that bench/device-run.sh reads on a GPU machine (see docs/PERFORMANCE.md), from
# binaries built here. Not part of make test.
#
#   bench/device-bundle.sh BUILD_DIR BUNDLE_DIR [bin|bin-new] [--xz]
#
# BUNDLE_DIR/bin (or bin-new, the candidate build measured after the baseline): the benches and
# test binaries of BUILD_DIR, stripped; BUNDLE_DIR/lib: the shared libraries they load that are
# not glibc's (the GPU machine's image has its own libc but not this system's fmt, spdlog, ...);
# BUNDLE_DIR/gl: the Vulkan loader's .deb (from .gl, see the device tool's notes); and
# BUNDLE_DIR/peer.tar.xz, made once: Debian's node (stripped) and node-llama-cpp 3.21.1 from
# build/npm-bench (make bench-llm installs it) with only its linux-x64-vulkan binaries and without
# its llama.cpp source bundle, xz-compressed (~36 MB). The device tool carries at most 64 MiB in
# all, the working tree included: check with du before a call. --xz packs bin (or bin-new) and
# lib as BUNDLE_DIR/<part>.tar.xz instead, which device-run.sh unpacks.
set -euo pipefail
build="$1"; bundle="$2"; dir="${3:-bin}"; pack="${4:-}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$bundle/$dir" "$bundle/lib" "$bundle/gl"
bins=()
for name in bench/crossgpu-serve-bench bench/crossgpu-llm-bench bench/crossgpu-bench \
            tests/test_ops_weights tests/test_ops_weights_few tests/test_llm_batch tests/test_llm_forward; do
  [ -x "$build/$name" ] || continue
  strip -o "$bundle/$dir/$(basename "$name")" "$build/$name"
  bins+=("$build/$name")
done
# Every library but glibc's own (and the loader, which the deb brings).
ldd "${bins[@]}" | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libvulkan)\.so' |
  while read -r lib; do cp -L "$lib" "$bundle/lib/"; done
cp "$repo"/.gl/*.deb "$bundle/gl/"  # the loader and libglvnd (the NVIDIA ICD needs libGLdispatch)
cp /var/cache/apt/archives/vulkan-validationlayers_*.deb "$bundle/gl/" 2>/dev/null || true  # tests with validation there
if [ ! -f "$bundle/peer.tar.xz" ]; then
  peer=$(mktemp -d)
  mkdir -p "$peer/bin" "$peer/node_modules/@node-llama-cpp"
  strip -o "$peer/bin/node" /usr/bin/node
  modules="$repo/build/npm-bench/node_modules"
  for m in "$modules"/* "$modules"/.[a-z]*; do
    [ "$(basename "$m")" = @node-llama-cpp ] || cp -a "$m" "$peer/node_modules/"
  done
  cp -a "$modules/@node-llama-cpp/linux-x64-vulkan" "$peer/node_modules/@node-llama-cpp/"
  rm -f "$peer/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  tar -C "$peer" -cf - . | xz -T2 -6 > "$bundle/peer.tar.xz"
  rm -rf "$peer"
fi
if [ "$pack" = --xz ]; then
  for part in "$dir" lib; do
    tar -C "$bundle/$part" -cf - . | xz -T2 -6 > "$bundle/$part.tar.xz"
    rm -rf "${bundle:?}/$part"
  done
fi
du -sh "$bundle"
