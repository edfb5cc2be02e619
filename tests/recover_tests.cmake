# Surviving a lost or slowed device (issue 16). The slowdown re-plan policy on synthetic timings
# (pure computation); the process tests (node processes, kill -9, SIGSTOP bursts) are in
# app_tests.cmake (test_recovery) and below when the network layers are built.
crossgpu_test(test_replan_policy test_replan_policy.cpp LIBS crossgpu_sched LABELS sched)
