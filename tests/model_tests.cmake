# The model layer: the GGUF reader and writer.
crossgpu_test(test_model_gguf test_model_gguf.cpp LIBS crossgpu_model LABELS model)
