# What `cmake --install` puts in place, and the Debian package `make package` builds from it
# (docs/PACKAGING.md):
#   bin/crossgpu                              the CLI (when the CLI is built)
#   lib/libcrossgpu_c.so{,.1,.0.1.0}          the C ABI
#   include/crossgpu.h
#   lib/cmake/crossgpu/                       find_package(crossgpu) -> crossgpu::crossgpu_c
#   lib/pkgconfig/crossgpu.pc                 pkg-config --cflags --libs crossgpu
#   lib/systemd/system/crossgpu-node.service  the node service (network builds only)
# Everything is relocatable: the CMake package and the .pc file find the prefix from where they
# lie, and the unit is written at install time with the prefix it is installed under.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
# A plain lib/ (not lib/<multiarch>): the same layout for every prefix, /usr/lib for the package.
set(CMAKE_INSTALL_LIBDIR lib)

if(TARGET crossgpu)
  install(TARGETS crossgpu RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()

# The shared library's include folder is the source tree's while building and include/ once
# installed; its layers are linked in statically, so the export set names no other target.
set_property(TARGET crossgpu_c PROPERTY INTERFACE_INCLUDE_DIRECTORIES
  "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>" "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
install(TARGETS crossgpu_c EXPORT crossgpuTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/include/crossgpu.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT runtime)

set(crossgpu_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/crossgpu)
install(EXPORT crossgpuTargets NAMESPACE crossgpu:: DESTINATION ${crossgpu_cmake_dir} COMPONENT runtime)
configure_package_config_file(${PROJECT_SOURCE_DIR}/packaging/crossgpuConfig.cmake.in
  ${PROJECT_BINARY_DIR}/packaging/crossgpuConfig.cmake INSTALL_DESTINATION ${crossgpu_cmake_dir})
# The C ABI only breaks with a new major version (cg_abi_version()).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/packaging/crossgpuConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/packaging/crossgpuConfig.cmake
  ${PROJECT_BINARY_DIR}/packaging/crossgpuConfigVersion.cmake DESTINATION ${crossgpu_cmake_dir} COMPONENT runtime)

configure_file(${PROJECT_SOURCE_DIR}/packaging/crossgpu.pc.in ${PROJECT_BINARY_DIR}/packaging/crossgpu.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/crossgpu.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT runtime)

# The node service needs the cluster commands. CMAKE_INSTALL_PREFIX is read when installing, so
# ExecStart names the installed CLI whether that is /usr (the package) or a --prefix; the options
# file goes to /etc for /usr (as GNUInstallDirs does) and to <prefix>/etc otherwise.
if(TARGET crossgpu AND CROSSGPU_WITH_NETWORK)
  install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(CROSSGPU_SYSCONFDIR /etc)
    else()
      set(CROSSGPU_SYSCONFDIR \"\${CMAKE_INSTALL_PREFIX}/etc\")
    endif()
    set(CROSSGPU_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set(unit \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/crossgpu-node.service\")
    set(defaults \"\$ENV{DESTDIR}\${CROSSGPU_SYSCONFDIR}/default/crossgpu\")
    message(STATUS \"Installing: \${unit}\")
    configure_file(\"${PROJECT_SOURCE_DIR}/packaging/systemd/crossgpu-node.service.in\" \"\${unit}\" @ONLY)
    message(STATUS \"Installing: \${defaults}\")
    configure_file(\"${PROJECT_SOURCE_DIR}/packaging/debian/crossgpu.default\" \"\${defaults}\" COPYONLY)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${unit}\" \"\${defaults}\")
  " COMPONENT runtime)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/docs/PACKAGING.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

include(${PROJECT_SOURCE_DIR}/cmake/Package.cmake)
