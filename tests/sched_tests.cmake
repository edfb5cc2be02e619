# Scheduling: scoring and placement (pure computation; no devices needed).
crossgpu_test(test_sched test_sched_placement.cpp test_sched_scoring.cpp LIBS crossgpu_sched LABELS sched)
