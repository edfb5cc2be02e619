# Tests of the `crossgpu` command: run the built binary as a user would and check its output.
crossgpu_test(test_app_cli test_app_cli.cpp LABELS app)
target_compile_definitions(test_app_cli PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_app_cli crossgpu)

# The model commands (plan, run, demo) through the binary; the demo starts three node processes.
crossgpu_test(test_app_llm test_app_llm.cpp LABELS app model)
target_compile_definitions(test_app_llm PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
target_link_libraries(test_app_llm PRIVATE nlohmann_json::nlohmann_json)
add_dependencies(test_app_llm crossgpu)

# Recovery from a lost device: four node processes, one killed mid-run (issue 16).
crossgpu_test(test_recovery test_recovery.cpp LIBS nlohmann_json::nlohmann_json LABELS app cluster)
target_compile_definitions(test_recovery PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_recovery crossgpu)
