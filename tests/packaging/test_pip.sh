#!/usr/bin/env bash
# `pip install bindings/python` offline into a fresh virtual environment (Debian's python3-venv
# and setuptools, --no-build-isolation --no-index), the native module built by this build's CMake
# target; then `import crossgpu` from the venv, outside the tree, lists the devices.
# Usage: test_pip.sh <build dir> <source dir> <python3>
set -euo pipefail
build=$(realpath "$1")
source=$(realpath "$2")
python=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH PYTHONHOME

"$python" -m venv --system-site-packages "$work/venv"
mkdir -p "$work/setup-build"
cd "$work"
CROSSGPU_CMAKE_BUILD_DIR=$build CROSSGPU_SETUP_BUILD_BASE=$work/setup-build \
  "$work/venv/bin/pip" install -q --no-build-isolation --no-index --disable-pip-version-check \
  "$source/bindings/python"
CROSSGPU_VULKAN_VALIDATION=1 "$work/venv/bin/python" - "$work/venv" <<'PY'
import pathlib, sys
import crossgpu
venv = pathlib.Path(sys.argv[1]).resolve()
where = pathlib.Path(crossgpu.__file__).resolve()
assert venv in where.parents, f"crossgpu imported from {where}, not from the venv {venv}"
native = pathlib.Path(crossgpu._native.__file__).resolve()
assert venv in native.parents, f"_native from {native}"
devices = crossgpu.Registry().devices()
assert devices, "no devices"
print(f"crossgpu {crossgpu.__version__} from {where.parent}: {[d.name for d in devices]}")
PY
# The wheel carries py.typed and the stubs; setuptools wrote nothing into the source tree.
[ -f "$(dirname "$("$work/venv/bin/python" -c 'import crossgpu; print(crossgpu.__file__)')")/py.typed" ]
if [ -e "$source/bindings/python/crossgpu.egg-info" ] || [ -e "$source/bindings/python/build" ]; then
  echo "FAIL: pip left build output in the source tree"; exit 1
fi
