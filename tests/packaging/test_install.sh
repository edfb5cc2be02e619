#!/usr/bin/env bash
# cmake --install into a scratch prefix, then a C program outside the tree is built against the
# installed files only, once through find_package(crossgpu) and once through pkg-config, and run.
# Usage: test_install.sh <build dir>
set -euo pipefail
build=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/crossgpu include/crossgpu.h lib/libcrossgpu_c.so lib/libcrossgpu_c.so.1 \
         lib/cmake/crossgpu/crossgpuConfig.cmake lib/cmake/crossgpu/crossgpuConfigVersion.cmake \
         lib/cmake/crossgpu/crossgpuTargets.cmake lib/pkgconfig/crossgpu.pc; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
# Nothing installed may point back into the build or source tree.
if grep -rlI -e "$build" -e "$(realpath "$build/..")/include" "$prefix/lib/cmake" "$prefix/lib/pkgconfig"; then
  echo "FAIL: installed CMake/pkg-config files name the build tree"; exit 1
fi

# The consumer's sources are copied out of the tree so no relative path can reach crossgpu's.
cp -r "$(dirname "$0")/consumer" "$work/src"
cmake -S "$work/src" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
# The consumer links the installed library, not the one in the build folder.
# (ldd's output is taken whole first: `ldd | grep -q` under pipefail fails when grep stops early.)
linked=$(ldd "$work/cmake-build/consumer")
grep -qF "$prefix/lib/libcrossgpu_c.so.1" <<<"$linked" ||
  { echo "FAIL: find_package consumer does not link $prefix/lib"; echo "$linked"; exit 1; }
echo "find_package: $("$work/cmake-build/consumer")"

# A version this library does not satisfy is refused (SameMajorVersion).
sed -i 's/find_package(crossgpu 0.1 REQUIRED)/find_package(crossgpu 1.0 REQUIRED)/' "$work/src/CMakeLists.txt"
if cmake -S "$work/src" -B "$work/cmake-build-v1" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
  echo "FAIL: find_package(crossgpu 1.0) accepted version 0.1"; exit 1
fi

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion crossgpu)" = "$(sed -n 's/^project(crossgpu VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")" ] ||
  { echo "FAIL: pkg-config version $(pkg-config --modversion crossgpu)"; exit 1; }
# shellcheck disable=SC2046  # pkg-config's output is meant to split into arguments
cc -std=c11 -o "$work/pkg-consumer" "$work/src/main.c" $(pkg-config --cflags --libs crossgpu)
echo "pkg-config: $(LD_LIBRARY_PATH=$prefix/lib "$work/pkg-consumer")"
