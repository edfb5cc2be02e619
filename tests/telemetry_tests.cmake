# Telemetry collectors on fixture sysfs trees and on the machine's own devices.
crossgpu_test(test_telemetry test_telemetry_collectors.cpp test_telemetry_profiler.cpp LIBS crossgpu_telemetry crossgpu_sched LABELS telemetry)
# The cluster view, exporters, sampler and placement inputs (no network needed).
crossgpu_test(test_telemetry_view test_telemetry_view.cpp LIBS crossgpu_telemetry crossgpu_sched LABELS telemetry)
if(CROSSGPU_WITH_NETWORK)
  # The telemetry protocol (compatibility rules, hostile input), its service over mutual TLS,
  # peer polling and link probes, in-process; then `crossgpu node --http` as a process.
  crossgpu_test(test_telemetry_protocol test_telemetry_protocol.cpp
    LIBS crossgpu_telemetry_service crossgpu_cluster_test_support LABELS "telemetry;cluster")
  crossgpu_test(test_telemetry_node test_telemetry_node.cpp
    LIBS crossgpu_telemetry_service crossgpu_cluster_test_support LABELS "telemetry;cluster")
  target_compile_definitions(test_telemetry_node PRIVATE CROSSGPU_CLI_PATH="$<TARGET_FILE:crossgpu>")
  add_dependencies(test_telemetry_node crossgpu)
endif()
