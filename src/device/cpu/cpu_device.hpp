// The CPU backend: the device model on host memory. Work runs synchronously on a thread pool at
// enqueue time, so its events are complete when returned. It is the reference and the fallback.
#pragma once

#include <memory>

#include "device/device.hpp"

namespace crossgpu {

// threads == 0: one per hardware thread.
std::shared_ptr<Device> make_cpu_device(std::size_t threads = 0);

}  // namespace crossgpu
