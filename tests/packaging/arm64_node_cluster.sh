#!/usr/bin/env bash
# The arm64 package as a board would install it, joined to this machine's node: the .deb from the
# aarch64 cross build (with the network layers) is checked (architecture, node service, shared
# libraries all resolvable among the arm64 libraries), unpacked into a scratch root, and its
# `crossgpu node` runs under qemu-user, joins a cluster whose other node is this machine's
# build, and holds a stage of a model that neither node may hold alone. The tokens must equal a
# local run's. Not part of `make test` (it needs scripts/install-arm64-deps.sh and the cross
# build); `make test-arm64-node` runs it.
# Usage: arm64_node_cluster.sh <host build dir> <arm64 build dir> [python3]
#        ARM64_CLI=<path> replaces the packaged CLI (to try the script with a host binary).
set -euo pipefail
host=$(realpath "$1")/src/apps/crossgpu
arm_build=$(realpath "$2")
python=${3:-python3}
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for log in "$work"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }; done; exit 1; }

# --- The package -------------------------------------------------------------------------------
if [ -z "${ARM64_CLI:-}" ]; then
  (cd "$arm_build" && cpack -G DEB --config CPackConfig.cmake -B "$work/out" >/dev/null)
  debs=("$work"/out/crossgpu_*_arm64.deb)
  [ -f "${debs[0]}" ] || fail "no arm64 .deb was built"
  deb=${debs[0]}
  [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "Architecture is not arm64"
  # (The listing is taken whole first: `tar | grep -q` under pipefail can fail on a match.)
  files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
  grep -qx './usr/lib/systemd/system/crossgpu-node.service' <<<"$files" ||
    fail "the arm64 package has no node service"
  depends=$(dpkg-deb -f "$deb" Depends)
  for dep in adduser 'libgrpc++' libprotobuf libavahi-core libssl3 libvulkan1; do
    [[ ", $depends" == *", $dep"* ]] || fail "Depends lacks $dep: $depends"
  done
  root=$work/root
  dpkg -x "$deb" "$root"
  file -L "$root/usr/bin/crossgpu" | grep -q 'ARM aarch64' || fail "usr/bin/crossgpu is not an aarch64 program"
  # Every library resolves among the arm64 ones (the dynamic loader lists them under qemu).
  linked=$(qemu-aarch64 /lib/ld-linux-aarch64.so.1 --list "$root/usr/bin/crossgpu")
  if grep -qF 'not found' <<<"$linked"; then fail "unresolved arm64 libraries: $linked"; fi
  "$python" "$here/check_unit.py" "$root/usr/lib/systemd/system/crossgpu-node.service" /usr/bin/crossgpu
  arm=(qemu-aarch64 "$root/usr/bin/crossgpu")
  echo "arm64 package: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB, node service, $(wc -l <<<"$linked") libraries resolved"
else
  arm=("$ARM64_CLI")
fi

# --- Two nodes: this machine's and the arm64 one under qemu ------------------------------------
wait_for() {  # <log> <regex> <seconds>: prints the first matching line
  local deadline=$((SECONDS + $3))
  until grep -Eq "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "no line matching '$2' in $1 after $3 s"
    sleep 0.5
  done
  grep -Em1 "$2" "$1"
}
model=$work/model.gguf
"$host" demo --write-model "$model" --layers 4 --type q8_0 >/dev/null
# Each node may hold 75% of the model (and a short KV cache): the plan has to use both.
quota="$(( ($(stat -c %s "$model") * 3 / 4 + (1 << 20) - 1) >> 20 ))MiB"
"$host" cluster init --config "$work/x86" --name arm64-check >/dev/null
# Fixed ports and each other as peers (no discovery: other clusters on this machine's loopback
# stay out, and the emulated node need not answer mDNS in time).
read -r x86_port arm_port < <("$python" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
port=$x86_port
node_args=(--cpu-only --no-discovery --quota "$quota")
# Each node measures its device afresh (qemu reports the host's CPU: a cached profile would match).
CROSSGPU_CACHE_DIR=$work/x86-cache "$host" node --config "$work/x86" --name x86-host --listen "127.0.0.1:$x86_port" \
  --peer "127.0.0.1:$arm_port" "${node_args[@]}" > "$work/x86-node.log" 2>&1 &
pids+=($!)
wait_for "$work/x86-node.log" 'listening on' 60 >/dev/null
token=$("$host" cluster invite --config "$work/x86" --address "127.0.0.1:$port" | tail -1)
started=$SECONDS
CROSSGPU_CACHE_DIR=$work/arm-cache "${arm[@]}" node --config "$work/arm" --join "$token" --name arm64-board --listen "127.0.0.1:$arm_port" \
  --peer "127.0.0.1:$x86_port" "${node_args[@]}" > "$work/arm-node.log" 2>&1 &
pids+=($!)
wait_for "$work/arm-node.log" 'listening on' 300 >/dev/null
echo "arm64 node joined and listening after $((SECONDS - started)) s"
deadline=$((SECONDS + 120))
until "$host" status --node "127.0.0.1:$port" --config "$work/x86" --json 2>/dev/null |
      "$python" -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if sum(n["state"] == "healthy" for n in s["nodes"]) == 2 else 1)'; do
  [ $SECONDS -lt $deadline ] || fail "the two nodes did not see each other"
  sleep 1
done

# Planning takes measured devices only: wait until both nodes' profiles (under qemu, slow) are in.
deadline=$((SECONDS + 600))
until "$host" plan --node "127.0.0.1:$port" --config "$work/x86" --model "$model" --context 128 --json 2>"$work/plan.log" |
      "$python" -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["stages"]) >= 2 else 1)' 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "no plan over both nodes after 600 s"
  sleep 2
done
echo "both nodes profiled after $((SECONDS - started)) s"

# --- A model split over both, against a local run ----------------------------------------------
run=(--model "$model" --context 128 --prompt "A board and a desktop" --max-tokens 12 --json)
"$host" run --local "${run[@]}" > "$work/local.json" 2> "$work/local.log"
started=$SECONDS
# Stage boundaries as f32: an exactness test against one device (f16, the default, rounds there).
CROSSGPU_CHAIN_HIDDEN=f32 "$host" run --node "127.0.0.1:$port" --config "$work/x86" "${run[@]}" > "$work/split.json" 2> "$work/split.log" ||
  fail "the split run failed"
"$python" - "$work/local.json" "$work/split.json" "$((SECONDS - started))" <<'PY'
import json, sys
local, split = (json.load(open(p)) for p in sys.argv[1:3])
stages = split["plan"]["stages"]
assert len(stages) >= 2, f"the plan did not split the model: {stages}"
assert split["tokens"] == local["tokens"], f"tokens differ: {split['tokens']} vs {local['tokens']}"
print(f"split over {len(stages)} stages ({', '.join(s['device'] for s in stages)}): "
      f"{len(split['tokens'])} tokens equal to the local run's, {sys.argv[3]} s, "
      f"decode {split['decode_tokens_per_second']:.2f} tok/s")
PY
echo "PASS"
