#!/bin/bash
# Runs crossgpu-remote-bench over a link of a given rate instead of raw loopback: inside a
# private network namespace whose loopback is shaped by a token bucket (tc tbf), so the node, the
# raw TCP baseline and the raw TLS baseline all cross the same rate-limited link. Loopback alone
# is a memory copy at several GB/s, faster than most links between a person's devices; this
# shows what the protocol costs on a 1, 2.5, 10 or 25 Gbit/s link.
#
#   bench/link-bench.sh RATE [crossgpu-remote-bench options...]
#   bench/link-bench.sh 10gbit --max-bytes 268435456 --json link-10g.json
#
# Needs root (or CAP_NET_ADMIN in a user namespace) and iproute2 (ip, tc). Not part of make test.
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
rate="$1"
shift
here="$(cd "$(dirname "$0")/.." && pwd)"
bench="${CROSSGPU_REMOTE_BENCH:-$here/build/bench/crossgpu-remote-bench}"
if [ ! -x "$bench" ]; then
  echo "link-bench: $bench not found: build it (make bench) or set CROSSGPU_REMOTE_BENCH" >&2
  exit 2
fi
for tool in unshare ip tc; do
  command -v "$tool" >/dev/null || { echo "link-bench: '$tool' is missing (apt install iproute2 util-linux)" >&2; exit 2; }
done
# The burst must hold at least one rate-tick of data or the shaper undershoots the rate.
exec unshare --net bash -c '
  set -e
  ip link set lo up
  tc qdisc add dev lo root tbf rate "$0" burst 4mb latency 20ms
  echo "loopback shaped: $(tc qdisc show dev lo)"
  exec "$@"' "$rate" "$bench" "$@"
