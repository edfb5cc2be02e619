# Discovery (src/net/discovery) and liveness (src/cluster/liveness) tests. Included by
# tests/CMakeLists.txt; the targets exist only once the net and cluster layers add those
# directories, so each half is guarded.
if(TARGET crossgpu_liveness)
  crossgpu_test(test_liveness
    ${CMAKE_CURRENT_LIST_DIR}/test_liveness_backoff.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_liveness_tracker.cpp
    LIBS crossgpu_liveness
    LABELS liveness)
endif()

if(TARGET crossgpu_discovery)
  crossgpu_test(test_discovery_unit
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_txt.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_seeds.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_interfaces.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_peer_table.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_avahi.cpp
    LIBS crossgpu_discovery
    LABELS discovery)

  # A node-like process for the multi-process tests: advertises, browses, prints what it finds.
  add_executable(crossgpu_discovery_probe ${CMAKE_CURRENT_LIST_DIR}/test_discovery_probe_main.cpp)
  target_link_libraries(crossgpu_discovery_probe PRIVATE crossgpu_discovery)

  # Real mDNS on this machine: in-process pairs and processes in network namespaces.
  crossgpu_test(test_discovery_network
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_local.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_discovery_netns.cpp
    LIBS crossgpu_discovery
    LABELS discovery network)
  target_compile_definitions(test_discovery_network PRIVATE
    CROSSGPU_DISCOVERY_PROBE="$<TARGET_FILE:crossgpu_discovery_probe>")
  add_dependencies(test_discovery_network crossgpu_discovery_probe)
  # mDNS on one host is one shared port: the network tests must not overlap each other.
  set_tests_properties(test_discovery_network PROPERTIES RUN_SERIAL TRUE TIMEOUT 120)
endif()
