# Security layer tests: invite decoding, the cluster CA and identities, and mutual TLS over gRPC
# on loopback (label net). Fuzz targets build from fuzz/ when CROSSGPU_FUZZ is on (clang only).
crossgpu_test(test_net_invite_token test_net_invite_token.cpp LIBS crossgpu_net_token LABELS net)
crossgpu_test(test_net_identity test_net_identity.cpp
  LIBS crossgpu_net nlohmann_json::nlohmann_json LABELS net)
crossgpu_test(test_net_grpc test_net_grpc.cpp LIBS crossgpu_net LABELS net)
crossgpu_test(test_net_cli test_net_cli.cpp LIBS crossgpu_net LABELS net app)
target_compile_definitions(test_net_cli PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_net_cli crossgpu)
crossgpu_test(test_delay_relay test_delay_relay.cpp LIBS crossgpu_delay_relay LABELS net)
