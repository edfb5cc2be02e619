# Tests of the `crossgpu` command: run the built binary as a user would and check its output.
crossgpu_test(test_app_cli test_app_cli.cpp LABELS app)
target_compile_definitions(test_app_cli PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_app_cli crossgpu)

# The model commands (plan, run, demo) through the binary; the demo starts three node processes.
crossgpu_test(test_app_llm test_app_llm.cpp LABELS app model)
target_compile_definitions(test_app_llm PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
target_link_libraries(test_app_llm PRIVATE nlohmann_json::nlohmann_json)
add_dependencies(test_app_llm crossgpu)

# Recovery from a lost device (issue 16): four `crossgpu node` processes, one killed, hung, slowed
# or restarted mid-run; on loopback (test_recovery) and each in its own network namespace with its
# link cut (test_recovery_netns: root, skipped otherwise). support/recovery_cluster runs them.
add_library(crossgpu_recovery_test_support STATIC support/recovery_cluster.cpp)
target_link_libraries(crossgpu_recovery_test_support PUBLIC crossgpu_test_support nlohmann_json::nlohmann_json)
target_compile_definitions(crossgpu_recovery_test_support PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(crossgpu_recovery_test_support crossgpu)
crossgpu_test(test_recovery test_recovery.cpp LIBS crossgpu_recovery_test_support LABELS app cluster)
target_compile_definitions(test_recovery PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
crossgpu_test(test_recovery_netns test_recovery_netns.cpp LIBS crossgpu_recovery_test_support LABELS app cluster network)
