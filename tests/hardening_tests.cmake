# Availability under hostile load (issue 15): the pre-authentication budget of the data channel,
# per-identity and per-role call quotas on every gRPC service, peer copies that can only reach
# members, liveness and telemetry polling that one hung peer cannot stall, the telemetry HTTP
# endpoint's connection budget, `run --json` clean while logging. Loopback only; each test
# bounded to a few seconds.
crossgpu_test(test_hardening
  test_hardening_handshake.cpp
  test_hardening_quotas.cpp
  test_hardening_services.cpp
  test_hardening_grants.cpp
  test_hardening_liveness.cpp
  test_hardening_poller.cpp
  test_hardening_http.cpp
  test_hardening_json.cpp
  LIBS crossgpu_cluster_test_support crossgpu_telemetry_service LABELS cluster hardening)
target_compile_definitions(test_hardening PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_hardening crossgpu)

# The issue's size: a node process under `ulimit -n 1024` and 2000 trickling connections from
# one address (CROSSGPU_FLOOD_CONNECTIONS), with a member's transfers, a model run through the
# node and revocation checked during the flood.
crossgpu_test(test_hardening_scale
  test_hardening_scale.cpp
  LIBS crossgpu_cluster_test_support LABELS cluster hardening)
target_compile_definitions(test_hardening_scale PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_hardening_scale crossgpu)
