# The transformer: sampling, and the llama forward pass on every device against the CPU device,
# whole and cut into pipeline stages.
crossgpu_test(test_llm_sampler test_llm_sampler.cpp LIBS crossgpu_llm LABELS model)
crossgpu_test(test_llm_forward test_llm_forward.cpp LIBS crossgpu_llm LABELS model)
