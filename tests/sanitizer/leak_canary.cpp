// The sanitizer gate's own check (sanitizer builds only, tests/sanitizer_tests.cmake): a program
// that loads and unloads the Vulkan driver and layers exactly as every test does, then loses one
// 4096-byte block of its own. LeakSanitizer must report that block, and only that block: the
// driver's allocations are not leaks once it stays loaded (keep_modules_loaded.c), and
// lsan.supp must not hide a leak in crossgpu's code.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "device/registry.hpp"

namespace {

// Not inlined, so the leak's stack names this function.
[[gnu::noinline]] void leak_canary_lose_a_block() {
  void* block = std::malloc(4096);
  std::memset(block, 0x5a, 4096);
  std::printf("block at %p\n", block);
  block = nullptr;  // the only pointer to it is gone
}

}  // namespace

int main() {
  {
    crossgpu::RegistryOptions options;
    options.validation = true;
    crossgpu::Registry registry(options);
    std::printf("%zu device(s)\n", registry.devices().size());
  }
  leak_canary_lose_a_block();
  return 0;
}
