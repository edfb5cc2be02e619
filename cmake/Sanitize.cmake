# CROSSGPU_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included) over
# every target, for `make test-sanitize`. Every executable also gets
# tests/sanitizer/keep_modules_loaded.c (dlclose() does nothing; why is in that file), so leaks of
# run-time loaded libraries (the Vulkan driver and layers) are reported under their library names,
# and tests/sanitizer/lsan.supp suppresses those libraries only (the Makefile passes it to LSan).
if(NOT CROSSGPU_SANITIZE)
  return()
endif()
add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
# Line tables are all that sanitizer stacks need; full debug info only made the build slower
# (make test-sanitize-suite builds with clang: docs/PACKAGING.md has the measurements).
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(crossgpu_sanitize_debug_info -gline-tables-only)
  # GCC predefines this under -fsanitize=address and the code tests it; clang 14 only has
  # __has_feature(address_sanitizer).
  add_compile_definitions(__SANITIZE_ADDRESS__=1)
else()
  set(crossgpu_sanitize_debug_info -g1)
endif()
set(CMAKE_C_FLAGS_DEBUG "-O0 ${crossgpu_sanitize_debug_info}")
set(CMAKE_CXX_FLAGS_DEBUG "-O0 ${crossgpu_sanitize_debug_info}")
# The executable exports its dlclose so that libraries' calls (the Vulkan loader's) bind to it.
add_link_options(-fsanitize=address,undefined LINKER:--export-dynamic-symbol=dlclose)

add_library(crossgpu_keep_modules_loaded OBJECT ${PROJECT_SOURCE_DIR}/tests/sanitizer/keep_modules_loaded.c)

# Every executable target of the project, once all directories have been read.
function(crossgpu_sanitize_executables directory)
  get_property(targets DIRECTORY ${directory} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "EXECUTABLE")
      target_link_libraries(${target} PRIVATE crossgpu_keep_modules_loaded)
      # Linked as C++ even where the program is C (the C ABI tests): the library they link was
      # built with UBSan, whose C++ part clang's runtime brings only to a C++ link.
      set_target_properties(${target} PROPERTIES LINKER_LANGUAGE CXX)
    endif()
  endforeach()
  get_property(subdirectories DIRECTORY ${directory} PROPERTY SUBDIRECTORIES)
  foreach(subdirectory IN LISTS subdirectories)
    crossgpu_sanitize_executables(${subdirectory})
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL crossgpu_sanitize_executables ${PROJECT_SOURCE_DIR})
