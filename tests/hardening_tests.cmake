# Availability under hostile load (issue 15): the pre-authentication budget of the data channel,
# per-identity and per-role call quotas, peer copies that can only reach members, liveness that
# one hung peer cannot stall. Loopback only; each test bounded to a few seconds.
crossgpu_test(test_hardening
  test_hardening_handshake.cpp
  test_hardening_quotas.cpp
  test_hardening_grants.cpp
  test_hardening_liveness.cpp
  test_hardening_http.cpp
  LIBS crossgpu_cluster_test_support crossgpu_telemetry_service LABELS cluster hardening)
target_compile_definitions(test_hardening PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_hardening crossgpu)
