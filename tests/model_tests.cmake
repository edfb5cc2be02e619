# The model layer: the GGUF reader and writer.
crossgpu_test(test_model_gguf test_model_gguf.cpp LIBS crossgpu_model LABELS model)
# The tokenizer (SentencePiece and byte-level BPE from GGUF metadata) and the chat formats.
crossgpu_test(test_model_tokenizer test_model_tokenizer.cpp LIBS crossgpu_model LABELS model)
crossgpu_test(test_model_chat_template test_model_chat_template.cpp LIBS crossgpu_model LABELS model)
