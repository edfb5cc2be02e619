# Telemetry collectors on fixture sysfs trees and on the machine's own devices.
crossgpu_test(test_telemetry test_telemetry_collectors.cpp test_telemetry_profiler.cpp LIBS crossgpu_telemetry crossgpu_sched LABELS telemetry)
