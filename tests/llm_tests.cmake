# The transformer: sampling, and the llama forward pass on every device against the CPU device,
# whole and cut into pipeline stages.
crossgpu_test(test_llm_sampler test_llm_sampler.cpp LIBS crossgpu_llm LABELS model)
crossgpu_test(test_llm_forward test_llm_forward.cpp LIBS crossgpu_llm LABELS model)
# Continuous batching: several sequences in their own KV-cache slots decoded in one pass.
crossgpu_test(test_llm_batch test_llm_batch.cpp LIBS crossgpu_llm LABELS model)
if(CROSSGPU_WITH_NETWORK)
  # The pipeline across three in-process nodes (mutual TLS, node-to-node copies), every type.
  crossgpu_test(test_llm_cluster test_llm_cluster.cpp
    LIBS crossgpu_llm crossgpu_cluster_test_support LABELS model cluster)
endif()
# Planning onto candidates: the errors a user sees when a model does not fit.
crossgpu_test(test_runtime_plan test_runtime_plan.cpp LIBS crossgpu_runtime LABELS model)
