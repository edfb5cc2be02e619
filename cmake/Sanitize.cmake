# CROSSGPU_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included) over
# every target, for `make test-sanitize`. Every executable also gets
# tests/sanitizer/keep_modules_loaded.c (dlclose() does nothing; why is in that file), so leaks of
# run-time loaded libraries (the Vulkan driver and layers) are reported under their library names,
# and tests/sanitizer/lsan.supp suppresses those libraries only (the Makefile passes it to LSan).
if(NOT CROSSGPU_SANITIZE)
  return()
endif()
add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
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
    endif()
  endforeach()
  get_property(subdirectories DIRECTORY ${directory} PROPERTY SUBDIRECTORIES)
  foreach(subdirectory IN LISTS subdirectories)
    crossgpu_sanitize_executables(${subdirectory})
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL crossgpu_sanitize_executables ${PROJECT_SOURCE_DIR})
