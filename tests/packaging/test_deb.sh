#!/usr/bin/env bash
# The Debian package (CPack, as `make package` builds it): its contents and control fields, the
# systemd unit (systemd-analyze verify plus a structural check), and the CLI run from the package
# unpacked into a scratch root (dpkg -x).
# Usage: test_deb.sh <build dir> <python3>
set -euo pipefail
build=$(realpath "$1")
python=$2
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$build" && cpack -G DEB --config CPackConfig.cmake -B "$work/out" >/dev/null)
debs=("$work"/out/crossgpu_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || { echo "FAIL: expected one .deb, got ${debs[*]}"; exit 1; }
deb=${debs[0]}
arch=$(dpkg --print-architecture)
[[ $(basename "$deb") == crossgpu_*_"$arch".deb ]] || { echo "FAIL: $(basename "$deb") is not for $arch"; exit 1; }

# Contents: exactly these files (symlinks included), nothing from the build or test tree.
dpkg-deb --fsys-tarfile "$deb" | tar -t | grep -v '/$' | sed 's|^\./||' | sort > "$work/files"
sort > "$work/expected" <<LIST
etc/default/crossgpu
usr/bin/crossgpu
usr/include/crossgpu.h
usr/lib/cmake/crossgpu/crossgpuConfig.cmake
usr/lib/cmake/crossgpu/crossgpuConfigVersion.cmake
usr/lib/cmake/crossgpu/crossgpuTargets-$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" | tr 'A-Z' 'a-z').cmake
usr/lib/cmake/crossgpu/crossgpuTargets.cmake
usr/lib/libcrossgpu_c.so
usr/lib/libcrossgpu_c.so.1
usr/lib/libcrossgpu_c.so.$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
usr/lib/pkgconfig/crossgpu.pc
usr/lib/systemd/system/crossgpu-node.service
usr/share/doc/crossgpu/PACKAGING.md
LIST
diff -u "$work/expected" "$work/files" || { echo "FAIL: package contents differ (- expected, + packaged)"; exit 1; }

# Control fields: the architecture, adduser for the maintainer scripts, and the shared libraries
# the binaries link (from dpkg-shlibdeps).
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || { echo "FAIL: Architecture"; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
for dep in adduser libvulkan1 libc6 libstdc++6 libssl3 'libgrpc++' libspdlog; do
  [[ ", $depends" == *", $dep"* ]] || { echo "FAIL: Depends lacks $dep: $depends"; exit 1; }
done
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || { echo "FAIL: no executable $script"; exit 1; }
  sh -n "$work/control/$script"
done
grep -q 'adduser --system --group --home /var/lib/crossgpu' "$work/control/postinst" ||
  { echo "FAIL: postinst does not create the crossgpu user"; exit 1; }
[ "$(cat "$work/control/conffiles")" = /etc/default/crossgpu ] || { echo "FAIL: conffiles"; exit 1; }

# The CLI from the unpacked package, with nothing of the build on the library path.
root=$work/root
dpkg -x "$deb" "$root"
# (ldd's output is taken whole first: `ldd | grep -q` under pipefail can miss a match.)
linked=$(ldd "$root/usr/bin/crossgpu" "$root/usr/lib/libcrossgpu_c.so.1")
if grep -qF 'not found' <<<"$linked"; then
  echo "FAIL: unresolved libraries"; ldd "$root/usr/bin/crossgpu"; exit 1
fi
env -i PATH=/usr/bin:/bin HOME="$work/home" "$root/usr/bin/crossgpu" devices > "$work/devices"
grep -Eq '^0 +[0-9a-z-]+ ' "$work/devices" || { echo "FAIL: crossgpu devices listed nothing"; cat "$work/devices"; exit 1; }
echo "crossgpu devices from the package: $(grep -Ec '^[0-9]+ ' "$work/devices") device(s)"

# The unit: systemd-analyze verify must pass without a single warning (it only warns about
# unknown keys and bad values). ExecStart must exist for verify, so it points into the scratch root.
unit=$root/usr/lib/systemd/system/crossgpu-node.service
"$python" "$here/check_unit.py" "$unit" /usr/bin/crossgpu
mkdir -p "$work/verify"
sed "s|/usr/bin/crossgpu|$root/usr/bin/crossgpu|" "$unit" > "$work/verify/crossgpu-node.service"
if ! systemd-analyze verify --man=no "$work/verify/crossgpu-node.service" > "$work/verify.log" 2>&1 ||
   [ -s "$work/verify.log" ]; then
  echo "FAIL: systemd-analyze verify:"; cat "$work/verify.log"; exit 1
fi
echo "systemd-analyze verify: clean"
