#!/usr/bin/env bash
# The all-in-one jar: it carries this platform's JNI library and loads it from itself, with no
# crossgpu.library property and an empty java.library.path.
# Usage: test_jar.sh <jar> <java> <jar tool>
set -euo pipefail
jar=$1
java=$2
jartool=$3
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$jartool" tf "$jar" | grep -Eq '^org/crossgpu/native/linux-[a-z0-9_]+/libcrossgpu_jni\.so$' ||
  { echo "FAIL: $jar carries no native library"; exit 1; }
cp "$jar" "$work/crossgpu.jar"  # away from the build folder and its libcrossgpu_jni.so
cd "$work"
"$java" -Djava.library.path="$work/none" -cp "$work/crossgpu.jar" "$here/JarLoads.java"
