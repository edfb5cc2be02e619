# The serve layer: the request reader and response shapes (no model), and the HTTP API against a
# real server on loopback with a generated model.
crossgpu_test(test_serve_request test_serve_request.cpp LIBS crossgpu_serve LABELS serve)
# What serve records when a device is lost: the recovery timeline and its /metrics lines.
crossgpu_test(test_serve_recovery_log test_serve_recovery_log.cpp LIBS crossgpu_serve LABELS serve)
pkg_check_modules(TEST_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
crossgpu_test(test_serve_http test_serve_http.cpp LIBS crossgpu_serve PkgConfig::TEST_HTTPLIB LABELS serve)
# HTTPS: TLS over the deadline server, hostile handshakes, certificates that cannot be used.
crossgpu_test(test_serve_tls test_serve_tls.cpp LIBS crossgpu_serve PkgConfig::TEST_HTTPLIB LABELS serve)
target_compile_definitions(test_serve_tls PRIVATE
                           CROSSGPU_TLS_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/serve/make_test_tls.sh")
# The official `openai` client over HTTPS (a test CA) against `crossgpu serve --local`.
add_test(NAME test_serve_openai_tls
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/serve/run_tls.sh ${PROJECT_SOURCE_DIR}
                 $<TARGET_FILE:crossgpu> ${CMAKE_BINARY_DIR}/npm-test)
set_tests_properties(test_serve_openai_tls PROPERTIES LABELS "serve;app" TIMEOUT 300
                     ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache")
# Continuous batching: concurrent requests decoded in shared passes, each its own text.
crossgpu_test(test_serve_batching test_serve_batching.cpp LIBS crossgpu_serve PkgConfig::TEST_HTTPLIB LABELS serve)

# The official `openai` npm client (pinned, installed by scripts/install-test-clients.sh into
# build/npm-test) against `crossgpu serve` with three node processes behind it.
if(CROSSGPU_WITH_NETWORK)
  # The read-only page on the node's HTTP exporter (crossgpu node --http).
  crossgpu_test(test_serve_dashboard_node test_serve_dashboard_node.cpp LIBS crossgpu_serve PkgConfig::TEST_HTTPLIB
                LABELS serve)
  add_test(NAME test_serve_openai_client
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/serve/run_openai_client.sh ${PROJECT_SOURCE_DIR}
                   $<TARGET_FILE:crossgpu> ${CMAKE_BINARY_DIR}/npm-test)
  set_tests_properties(test_serve_openai_client PROPERTIES LABELS "serve;app" TIMEOUT 600
                       ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache")
  # Serve survives losing a device: 4 nodes, kill -9 of the middle stage's node mid-stream, the
  # streams finish with the undisturbed text; a second loss the survivors cannot cover is a 503.
  add_test(NAME test_serve_recovery
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/serve/run_openai_client.sh ${PROJECT_SOURCE_DIR}
                   $<TARGET_FILE:crossgpu> ${CMAKE_BINARY_DIR}/npm-test recovery_test.mjs)
  set_tests_properties(test_serve_recovery PROPERTIES LABELS "serve;app;cluster" TIMEOUT 300
                       ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache")
  # Serve moves off a slowed device: SIGSTOP bursts on the middle stage's node mid-stream, a re-plan
  # between two decode steps, the streams finish with the undisturbed text; the parked prefix cache
  # is dropped with the old stages and reported truthfully (cached_tokens 0, then cached again).
  add_test(NAME test_serve_replan
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/serve/run_openai_client.sh ${PROJECT_SOURCE_DIR}
                   $<TARGET_FILE:crossgpu> ${CMAKE_BINARY_DIR}/npm-test replan_test.mjs)
  set_tests_properties(test_serve_replan PROPERTIES LABELS "serve;app;cluster" TIMEOUT 300
                       ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache")
  # The dashboard in Debian's chromium, driven by the pinned playwright-core (same install), against
  # `crossgpu serve` with three nodes; screenshots in build/dashboard-screenshots.
  add_test(NAME test_serve_dashboard_browser
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/serve/run_dashboard_browser.sh ${PROJECT_SOURCE_DIR}
                   $<TARGET_FILE:crossgpu> ${CMAKE_BINARY_DIR}/npm-test ${CMAKE_BINARY_DIR}/dashboard-screenshots)
  set_tests_properties(test_serve_dashboard_browser PROPERTIES LABELS "serve;app" TIMEOUT 300
                       ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache")
endif()
