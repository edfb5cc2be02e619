# Installing and packaging (cmake/Install.cmake, packaging/, bindings' packages, .github/): each
# test works in its own temporary folder outside the tree. docs/PACKAGING.md says what each shows.
set(packaging_dir ${CMAKE_CURRENT_SOURCE_DIR}/packaging)
set(packaging_env "CROSSGPU_VULKAN_VALIDATION=1;XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache")

# The workflows' YAML and the fields GitHub needs (they cannot run here).
add_test(NAME test_workflows COMMAND ${Python_EXECUTABLE} ${packaging_dir}/check_workflows.py ${PROJECT_SOURCE_DIR})
set_tests_properties(test_workflows PROPERTIES LABELS packaging TIMEOUT 60)

# The rest builds and runs host programs against the installed files: not with a cross build
# (host compiler, target library) nor a sanitizer build (consumers without the ASan runtime).
if(CMAKE_CROSSCOMPILING OR CROSSGPU_SANITIZE)
  return()
endif()

# cmake --install into a scratch prefix; a C program outside the tree built through
# find_package(crossgpu) and through pkg-config, and run.
add_test(NAME test_install_consumers COMMAND bash ${packaging_dir}/test_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(test_install_consumers PROPERTIES LABELS packaging TIMEOUT 300 ENVIRONMENT "${packaging_env}")

# The Debian package: contents, control fields, the unit (systemd-analyze verify), and the CLI
# from the package unpacked with dpkg -x. Needs the CLI and the node service (network builds).
if(TARGET crossgpu AND CROSSGPU_WITH_NETWORK)
  add_test(NAME test_debian_package COMMAND bash ${packaging_dir}/test_deb.sh ${CMAKE_BINARY_DIR} ${Python_EXECUTABLE})
  set_tests_properties(test_debian_package PROPERTIES LABELS packaging TIMEOUT 300 ENVIRONMENT "${packaging_env}")
endif()

# pip install bindings/python offline into a venv, and the all-in-one jar loading its own
# native library.
if(CROSSGPU_WITH_BINDINGS)
  add_test(NAME test_python_pip_install
    COMMAND bash ${packaging_dir}/test_pip.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${Python_EXECUTABLE})
  add_test(NAME test_java_jar
    COMMAND bash ${packaging_dir}/test_jar.sh ${CROSSGPU_JAVA_ALL_JAR} ${Java_JAVA_EXECUTABLE} ${Java_JAR_EXECUTABLE})
  set_tests_properties(test_python_pip_install test_java_jar PROPERTIES
    LABELS packaging TIMEOUT 300 ENVIRONMENT "${packaging_env}")
endif()
