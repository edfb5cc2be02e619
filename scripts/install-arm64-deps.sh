#!/usr/bin/env bash
# What the arm64 builds (`make test-arm64`, `make package-arm64`) need beyond
# scripts/install-deps.sh: the aarch64 cross toolchain, qemu-user, and the arm64 builds of the
# libraries (Vulkan loader, lavapipe, validation layers, spdlog, fmt, GoogleTest; gRPC, protobuf,
# OpenSSL and Avahi for the network layers, whose -dev packages are Multi-Arch: same and install
# beside the host's; protoc and grpc_cpp_plugin are the host's). Idempotent; apt only.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
packages=(crossbuild-essential-arm64 qemu-user
          libvulkan-dev:arm64 mesa-vulkan-drivers:arm64 vulkan-validationlayers:arm64
          libspdlog-dev:arm64 libfmt-dev:arm64 libgtest-dev:arm64
          libpcre2-dev:arm64 libcpp-httplib-dev:arm64  # the tokenizer's regexes; serve
          libgrpc++-dev:arm64 libprotobuf-dev:arm64 libssl-dev:arm64
          libavahi-client-dev:arm64 libavahi-core-dev:arm64 file)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-arm64-deps: all ${#packages[@]} packages present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
