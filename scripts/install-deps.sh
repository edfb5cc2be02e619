#!/usr/bin/env bash
# Installs every build and test dependency of crossgpu from Debian bookworm's archive.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  # GPU: Vulkan loader and headers, GLSL compiler, lavapipe, validation layers
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers spirv-tools vulkan-tools
  # utilities
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  # text: the pre-tokenizer regexes of GGUF vocabularies (UTF + UCP)
  libpcre2-dev
  # chat-template tests: Jinja2, one of the two reference renderers (tests/chat_templates)
  python3-jinja2
  # network (cluster layer)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev
  libavahi-client-dev libavahi-core-dev iproute2
  avahi-daemon avahi-utils dbus
  # bindings
  pybind11-dev python3-dev python3-numpy python3-pytest python3-grpcio python3-grpc-tools python3-protobuf
  openjdk-17-jdk-headless junit5
  # packaging (make package, pip install bindings/python) and its tests: CPack DEB needs file and
  # dpkg-shlibdeps; systemd only for `systemd-analyze verify` of the node's unit (nothing runs it)
  dpkg-dev file python3-venv python3-setuptools python3-yaml systemd
  # the dashboard's browser test (tests/serve): headless chromium, driven by playwright-core
  chromium
  # sanitizers and fuzzing (clang's libFuzzer runtime)
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
