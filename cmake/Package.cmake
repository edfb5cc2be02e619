# `make package`: a Debian package (CPack DEB) of what cmake/Install.cmake installs, under /usr,
# with the node service, its user (packaging/debian/postinst) and dependencies from
# dpkg-shlibdeps. The architecture follows the target: amd64 here, arm64 from the cross build.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME crossgpu)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "pools the GPUs of a person's devices into one secure cluster")
if(CROSSGPU_WITH_NETWORK)
  set(CPACK_PACKAGE_DESCRIPTION "crossgpu runs AI inference across the GPUs of several devices (Vulkan,\n\
mutual-TLS cluster). This package has the crossgpu command, the node service\n\
(crossgpu-node.service) and the C library libcrossgpu_c with its header,\n\
CMake package and pkg-config file.")
else()
  # The cross builds leave the network layers out: no cluster commands, no node service.
  set(CPACK_PACKAGE_DESCRIPTION "crossgpu runs AI inference on the GPUs of a device (Vulkan). This build\n\
has no network layers: the crossgpu command without the cluster commands and\n\
no node service, and the C library libcrossgpu_c with its header, CMake\n\
package and pkg-config file.")
endif()
set(CROSSGPU_PACKAGE_MAINTAINER "crossgpu maintainers <crossgpu@localhost>" CACHE STRING
  "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT ${CROSSGPU_PACKAGE_MAINTAINER})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies (libvulkan1, libgrpc++, libspdlog, ...) from the binaries themselves;
# adduser for the maintainer scripts; a Vulkan driver is recommended (lavapipe at least).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(CROSSGPU_WITH_NETWORK)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")  # the node service's user
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mesa-vulkan-drivers | vulkan-icd")
if(CROSSGPU_WITH_NETWORK)
  string(APPEND CPACK_DEBIAN_PACKAGE_RECOMMENDS ", avahi-daemon")
endif()
# gzip: several times faster to build than xz (the package is built in make test).
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
if(CMAKE_CROSSCOMPILING AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
endif()

# The service's user and folder come with the node service only (network builds).
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
if(TARGET crossgpu AND CROSSGPU_WITH_NETWORK)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
endif()

include(CPack)
