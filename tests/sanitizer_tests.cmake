# Sanitizer builds only: the gate itself is checked. leak_canary loads and unloads the Vulkan
# driver like every test, then leaks one 4096-byte block of its own; LeakSanitizer, with the
# suppressions make test-sanitize uses, must fail it on exactly that block (a gate that hides our
# leaks, or still trips on the driver's, fails this test).
if(NOT CROSSGPU_SANITIZE)
  return()
endif()
add_executable(leak_canary ${CMAKE_CURRENT_SOURCE_DIR}/sanitizer/leak_canary.cpp)
target_link_libraries(leak_canary PRIVATE crossgpu_device)
add_test(NAME test_sanitizer_leak_canary COMMAND leak_canary)
set_tests_properties(test_sanitizer_leak_canary PROPERTIES
  LABELS sanitizer TIMEOUT 300
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/sanitizer/lsan.supp;XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache"
  PASS_REGULAR_EXPRESSION "Direct leak of 4096 byte\\(s\\) in 1 object\\(s\\) allocated from:[^=]*leak_canary_lose_a_block[^=]*SUMMARY: AddressSanitizer: 4096 byte\\(s\\) leaked in 1 allocation\\(s\\)")
