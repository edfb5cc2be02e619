# Cross build for 64-bit ARM Linux (Raspberry Pi 5, Jetson-class boards, phones' CPUs) with
# Debian's cross toolchain and multiarch arm64 libraries; tests run under qemu-user.
# Used by `make test-arm64` (scripts/install-arm64-deps.sh installs what it needs).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Multiarch: arm64 libraries live in /usr/lib/aarch64-linux-gnu, headers are shared in /usr/include.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # glslc and the like run on the build machine
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# ctest runs every test binary through the emulator; the arm64 loader and libraries come from
# the multiarch packages in /, so qemu needs no -L prefix.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
# pkg-config (PCRE2, cpp-httplib) must read the arm64 .pc files, not the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
