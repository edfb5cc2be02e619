# The serve layer: the request reader and response shapes (no model), and the HTTP API against a
# real server on loopback with a generated model.
crossgpu_test(test_serve_request test_serve_request.cpp LIBS crossgpu_serve LABELS serve)
pkg_check_modules(TEST_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
crossgpu_test(test_serve_http test_serve_http.cpp LIBS crossgpu_serve PkgConfig::TEST_HTTPLIB LABELS serve)
