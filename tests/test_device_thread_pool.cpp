// ThreadPool: the CPU backend's parallel loops must cover every index exactly once and report
// failures from any worker to the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/thread_pool.hpp"

namespace crossgpu {
namespace {

// Every index in [0, count) visited exactly once, chunks in range and at least `grain` long
// (except the last).
void expect_exact_cover(ThreadPool& pool, std::uint64_t count, std::uint64_t grain) {
  SCOPED_TRACE(::testing::Message() << "count " << count << " grain " << grain);
  std::vector<std::atomic<int>> hits(count);
  std::atomic<bool> bad_chunk{false};
  pool.parallel_for(count, grain, [&](std::uint64_t begin, std::uint64_t end) {
    if (begin >= end || end > count) bad_chunk = true;
    for (std::uint64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
  });
  EXPECT_FALSE(bad_chunk);
  for (std::uint64_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.size(), 4u);
  for (std::uint64_t count : {1ull, 2ull, 7ull, 100ull, 1001ull, 100'000ull}) {
    for (std::uint64_t grain : {0ull, 1ull, 3ull, 64ull, 1'000'000ull}) {
      expect_exact_cover(pool, count, grain);
    }
  }
}

TEST(ThreadPool, ZeroCountNeverCallsTheBody) {
  ThreadPool pool(2);
  bool called = false;
  pool.parallel_for(0, 1, [&](std::uint64_t, std::uint64_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPool, SingleThreadPoolRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.size(), 1u);
  expect_exact_cover(pool, 1000, 1);
}

TEST(ThreadPool, DefaultSizeIsHardwareThreads) {
  ThreadPool pool;
  EXPECT_GE(pool.size(), 1u);
}

TEST(ThreadPool, ComputesASum) {
  ThreadPool pool(3);
  std::vector<std::uint64_t> values(1 << 20);
  std::iota(values.begin(), values.end(), 0);
  std::atomic<std::uint64_t> sum{0};
  pool.parallel_for(values.size(), 1024, [&](std::uint64_t begin, std::uint64_t end) {
    std::uint64_t local = 0;
    for (std::uint64_t i = begin; i < end; ++i) local += values[i];
    sum += local;
  });
  EXPECT_EQ(sum.load(), values.size() * (values.size() - 1) / 2);
}

TEST(ThreadPool, ExceptionReachesTheCallerAfterAllChunksFinish) {
  ThreadPool pool(4);
  std::atomic<int> running{0};
  std::atomic<int> finished{0};
  auto body = [&](std::uint64_t begin, std::uint64_t) {
    ++running;
    if (begin == 0) throw std::runtime_error("chunk 0 failed");
    ++finished;
    --running;
  };
  EXPECT_THROW(
      {
        try {
          pool.parallel_for(64, 1, body);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "chunk 0 failed");
          throw;
        }
      },
      std::runtime_error);
  // parallel_for returned only after the other chunks completed: nothing still runs `body`,
  // whose captures are about to go out of scope.
  EXPECT_EQ(running.load(), 1);  // the throwing chunk never decremented
  EXPECT_GT(finished.load(), 0);
}

TEST(ThreadPool, UsableAgainAfterAnException) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(100, 1,
                                 [](std::uint64_t, std::uint64_t) {
                                   throw std::logic_error("every chunk fails");
                                 }),
               std::logic_error);
  expect_exact_cover(pool, 5000, 10);
}

TEST(ThreadPool, ManyShortCallsInARow) {
  ThreadPool pool(4);
  std::atomic<std::uint64_t> total{0};
  for (int call = 0; call < 2000; ++call) {
    pool.parallel_for(16, 1, [&](std::uint64_t begin, std::uint64_t end) { total += end - begin; });
  }
  EXPECT_EQ(total.load(), 2000u * 16u);
}

TEST(ThreadPool, CallsFromSeveralThreadsAreSerializedCorrectly) {
  ThreadPool pool(2);
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int call = 0; call < 100; ++call) {
        pool.parallel_for(1000, 10, [&](std::uint64_t b, std::uint64_t e) { total += e - b; });
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(total.load(), 4u * 100u * 1000u);
}

}  // namespace
}  // namespace crossgpu
