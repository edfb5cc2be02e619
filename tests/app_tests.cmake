# Tests of the `crossgpu` command: run the built binary as a user would and check its output.
crossgpu_test(test_app_cli test_app_cli.cpp LABELS app)
target_compile_definitions(test_app_cli PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_app_cli crossgpu)
