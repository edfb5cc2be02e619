#include "test_ops_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

#include "kernels/reference/reference.hpp"

namespace crossgpu::testing {
namespace {

std::uint64_t initial_seed() {
  if (const char* fixed = std::getenv("CROSSGPU_TEST_SEED")) {
    return std::strtoull(fixed, nullptr, 0);
  }
  std::random_device device;
  return (std::uint64_t{device()} << 32) | device();
}

}  // namespace

Rng::Rng() : seed_(initial_seed()), state_(seed_) {}

std::uint64_t Rng::next() noexcept {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float Rng::uniform(float lo, float hi) noexcept {
  const double unit = static_cast<double>(next() >> 40) * 0x1.0p-24;  // [0, 1), 24 bits
  return static_cast<float>(lo + (hi - lo) * unit);
}

std::vector<float> Rng::floats(std::uint64_t n, float lo, float hi) {
  std::vector<float> out(n);
  for (float& v : out) v = uniform(lo, hi);
  return out;
}

std::vector<reference::Half> Rng::halves(std::uint64_t n, float lo, float hi) {
  std::vector<reference::Half> out(n);
  for (auto& v : out) v = reference::to_half(uniform(lo, hi));
  return out;
}

void DeviceOpsTest::TearDown() {
  if (HasFailure()) {
    const auto seed = static_cast<unsigned long long>(rng.seed());
    std::fprintf(stderr,
                 "  random inputs came from seed %llu: rerun with CROSSGPU_TEST_SEED=%llu\n",
                 seed, seed);
  }
}

void DeviceOpsTest::upload_into(BufferRef buffer, std::span<const std::byte> bytes,
                                std::uint64_t offset) {
  stream().upload(buffer, offset, bytes).wait();
}

::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want,
                                     const Tolerance& tolerance) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " values, expected " << want.size();
  }
  struct Miss {
    std::size_t index;
    double excess;  // |got - want| / tolerance
  };
  std::vector<Miss> misses;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::abs(double{got[i]} - double{want[i]});
    const double allowed = tolerance(i);
    const bool same_special = (std::isnan(got[i]) && std::isnan(want[i])) || got[i] == want[i];
    if (!same_special && !(error <= allowed)) misses.push_back({i, error / allowed});
  }
  if (misses.empty()) return ::testing::AssertionSuccess();
  std::sort(misses.begin(), misses.end(),
            [](const Miss& a, const Miss& b) { return a.excess > b.excess; });
  std::ostringstream out;
  out.precision(9);
  out << misses.size() << " of " << got.size() << " values outside tolerance; worst:";
  for (std::size_t j = 0; j < std::min<std::size_t>(misses.size(), 5); ++j) {
    const std::size_t i = misses[j].index;
    out << "\n  [" << i << "] got " << got[i] << ", expected " << want[i] << " (tolerance "
        << tolerance(i) << ")";
  }
  return ::testing::AssertionFailure() << out.str();
}

::testing::AssertionResult all_equal(std::span<const float> got, std::span<const float> want) {
  return all_close(got, want, [](std::size_t) { return 0.0; });
}

std::vector<float> to_floats(const std::vector<reference::Half>& halves) {
  std::vector<float> out(halves.size());
  for (std::size_t i = 0; i < halves.size(); ++i) out[i] = reference::to_float(halves[i]);
  return out;
}

}  // namespace crossgpu::testing
