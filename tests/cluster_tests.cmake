# Tests of the cluster layer: nodes in-process and as separate `crossgpu node` processes on
# loopback, each with its own throwaway cluster identity.
add_library(crossgpu_cluster_test_support STATIC test_cluster_fixture.cpp)
target_link_libraries(crossgpu_cluster_test_support PUBLIC crossgpu_cluster crossgpu_test_support)

crossgpu_test(test_cluster_remote test_cluster_remote.cpp
  LIBS crossgpu_cluster_test_support crossgpu_kernels LABELS cluster)
crossgpu_test(test_cluster_hostile test_cluster_hostile.cpp
  LIBS crossgpu_cluster_test_support crossgpu_kernels LABELS cluster)

crossgpu_test(test_cluster_processes test_cluster_processes.cpp
  LIBS crossgpu_cluster_test_support LABELS cluster)
target_compile_definitions(test_cluster_processes PRIVATE
  CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>"
  CROSSGPU_TEST_SELF="$<TARGET_FILE:test_cluster_processes>")
add_dependencies(test_cluster_processes crossgpu)

# Cross-language: Python stubs generated from proto/ at build time with Debian's grpc_tools.
set(py_stubs ${CMAKE_CURRENT_BINARY_DIR}/python-stubs)
add_custom_command(
  OUTPUT ${py_stubs}/crossgpu/v1/node_pb2.py ${py_stubs}/crossgpu/v1/node_pb2_grpc.py
  COMMAND ${CMAKE_COMMAND} -E make_directory ${py_stubs}
  COMMAND /usr/bin/python3 -m grpc_tools.protoc -I ${PROJECT_SOURCE_DIR}/proto
          --python_out=${py_stubs} --grpc_python_out=${py_stubs}
          ${PROJECT_SOURCE_DIR}/proto/crossgpu/v1/node.proto
  DEPENDS ${PROJECT_SOURCE_DIR}/proto/crossgpu/v1/node.proto
  COMMENT "Python stubs for the protocol"
  VERBATIM)
add_custom_target(crossgpu_python_stubs ALL
  DEPENDS ${py_stubs}/crossgpu/v1/node_pb2.py ${py_stubs}/crossgpu/v1/node_pb2_grpc.py)
add_test(NAME test_python_client
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_python_client.py
          --cli $<TARGET_FILE:crossgpu> --stubs ${py_stubs})
set_tests_properties(test_python_client PROPERTIES LABELS "cluster;python" TIMEOUT 120)

# The data channel: bit-exact transfers, gRPC fallback, node id pinning and hostile peers.
crossgpu_test(test_cluster_data_channel test_cluster_data_channel.cpp
  LIBS crossgpu_cluster_test_support OpenSSL::SSL LABELS cluster)

# Nodes in separate network namespaces joined by a veth pair (root; skipped otherwise).
crossgpu_test(test_cluster_netns test_cluster_netns.cpp
  LIBS crossgpu_cluster_test_support crossgpu_kernels LABELS cluster network)
target_compile_definitions(test_cluster_netns PRIVATE
  CROSSGPU_TEST_SELF="$<TARGET_FILE:test_cluster_netns>")

# The node's weight cache: store/fill bit-exact, hashes checked by the node, corrupt blobs,
# ranges, roles, eviction, and a model stage loaded twice through the cache.
crossgpu_test(test_cluster_weight_cache test_cluster_weight_cache.cpp
  LIBS crossgpu_cluster_test_support crossgpu_kernels crossgpu_llm LABELS cluster)

# Cluster-wide revocation: a removal on the CA node spreads through peer monitors (also with the
# CA offline); forged, tampered, older and malformed signed lists are refused and not stored.
crossgpu_test(test_cluster_revocation test_cluster_revocation.cpp
  LIBS crossgpu_cluster_test_support LABELS cluster network)

# Decode chains (issue 14): remote stages pass hidden states node to node; tokens equal the
# CPU's for 1-3 stages and mixed plans, one stage request per node per token, typed refusals,
# a lost node mid-chain is device_lost, delayed links cost compute + hops x one-way delay, a hop
# that cannot reach the next node fails typed within the hop timeout and the steps relay.
crossgpu_test(test_cluster_chain test_cluster_chain.cpp
  LIBS crossgpu_cluster_test_support crossgpu_kernels crossgpu_llm crossgpu_runtime crossgpu_delay_relay
  LABELS cluster)
