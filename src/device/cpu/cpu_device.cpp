#include "device/cpu/cpu_device.hpp"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "device/cpu/cpu_profile.hpp"

namespace crossgpu {
namespace {

// 64-byte aligned host memory: cache-line aligned, and aligned enough for any vector type.
class CpuBuffer final : public BackendBuffer {
 public:
  explicit CpuBuffer(std::uint64_t bytes) : bytes_(bytes) {
    const std::uint64_t rounded = (bytes + 63) / 64 * 64;
    data_ = static_cast<std::byte*>(std::aligned_alloc(64, rounded));
    if (data_ == nullptr) {
      fail(Errc::out_of_memory, "host allocation of {} failed", format_bytes(bytes));
    }
  }
  ~CpuBuffer() override { std::free(data_); }
  std::byte* host_pointer() noexcept override { return data_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::byte* data_ = nullptr;
  std::uint64_t bytes_;
};

std::byte* data_of(BackendBuffer& buffer) { return buffer.host_pointer(); }

class CpuStream final : public Stream {
 public:
  CpuStream(Device& device, ThreadPool& pool, cpu::DispatchProfile* profile)
      : Stream(device), pool_(pool), profile_(profile) {}

 protected:
  Event do_upload(BackendBuffer& dst, std::uint64_t offset,
                  std::span<const std::byte> src) override {
    std::memcpy(data_of(dst) + offset, src.data(), src.size());
    return {};
  }
  Event do_download(BackendBuffer& src, std::uint64_t offset, std::span<std::byte> dst) override {
    std::memcpy(dst.data(), data_of(src) + offset, dst.size());
    return {};
  }
  Event do_copy(BackendBuffer& src, std::uint64_t src_offset, BackendBuffer& dst,
                std::uint64_t dst_offset, std::uint64_t bytes) override {
    std::memmove(data_of(dst) + dst_offset, data_of(src) + src_offset, bytes);
    return {};
  }
  Event do_dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                    std::span<const std::byte> push, Groups groups) override {
    if (kernel.cpu == nullptr) {
      fail(Errc::unsupported, "kernel '{}' has no CPU implementation", kernel.name);
    }
    // Kernels bind a handful of buffers: no allocation per dispatch.
    constexpr std::size_t kMaxBindings = 16;
    if (bindings.size() > kMaxBindings) {
      fail(Errc::unsupported, "kernel '{}' binds {} buffers, the CPU device takes {}", kernel.name,
           bindings.size(), kMaxBindings);
    }
    std::array<CpuBinding, kMaxBindings> buffers;
    for (std::size_t i = 0; i < bindings.size(); ++i) {
      buffers[i] = {data_of(*bindings[i].buffer) + bindings[i].offset, bindings[i].bytes};
    }
    const CpuKernelArgs args{std::span(buffers.data(), bindings.size()), push, groups, pool_};
    if (profile_ == nullptr) {
      kernel.cpu(args);
      return {};
    }
    const auto begin = cpu::DispatchProfile::Clock::now();
    kernel.cpu(args);
    profile_->add(kernel.name, begin, cpu::DispatchProfile::Clock::now());
    return {};
  }
  void do_flush() override {}
  void do_synchronize() override {}

 private:
  ThreadPool& pool_;
  cpu::DispatchProfile* profile_;
};

std::uint64_t available_host_bytes() {
  // MemAvailable is what the kernel could give without swapping; sysinfo's freeram undercounts.
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  struct sysinfo info {};
  if (sysinfo(&info) == 0) return static_cast<std::uint64_t>(info.freeram) * info.mem_unit;
  return 0;
}

std::uint64_t total_host_bytes() {
  struct sysinfo info {};
  if (sysinfo(&info) != 0) return 0;
  return static_cast<std::uint64_t>(info.totalram) * info.mem_unit;
}

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    auto colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos) {
      return line.substr(colon + 2);
    }
  }
  return "CPU";
}

// Stable across runs on one host: /etc/machine-id when present, else the hostname.
std::string host_id() {
  std::ifstream machine_id("/etc/machine-id");
  std::string id;
  if (machine_id >> id && !id.empty()) return id.substr(0, 16);
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(std::size_t threads) : Device(describe(threads)), pool_(threads) {
    if (cpu::DispatchProfile::requested()) {
      profile_ = std::make_unique<cpu::DispatchProfile>(fmt::format("{} ({} threads)", properties().name, pool_.size()));
    }
  }

 protected:
  std::unique_ptr<BackendBuffer> do_allocate(std::uint64_t bytes, MemoryKind) override {
    const std::uint64_t available = available_host_bytes();
    if (bytes > available) {
      fail(Errc::out_of_memory, "CPU allocation of {} exceeds the {} of host memory available",
           format_bytes(bytes), format_bytes(available));
    }
    return std::make_unique<CpuBuffer>(bytes);
  }
  std::unique_ptr<Stream> do_create_stream() override {
    return std::make_unique<CpuStream>(*this, pool_, profile_.get());
  }
  std::vector<MemoryHeap> do_query_heaps() override { return heaps(); }

 private:
  static std::vector<MemoryHeap> heaps() {
    MemoryHeap heap;
    heap.total_bytes = total_host_bytes();
    heap.free_bytes = available_host_bytes();
    heap.device_local = true;
    heap.host_visible = true;
    heap.free_is_estimate = false;  // measured by the kernel (MemAvailable)
    return {heap};
  }

  static DeviceProperties describe(std::size_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    DeviceProperties p;
    p.id = "cpu-" + host_id();
    p.backend = Backend::cpu;
    p.name = cpu_model_name();
    p.vendor = Vendor::unknown;
    p.type = DeviceType::cpu;
    p.driver_name = "crossgpu-cpu";
    p.driver_version = "0.1";
    p.compute_units = static_cast<std::uint32_t>(threads);
    p.heaps = heaps();
    DeviceLimits& l = p.limits;
    l.max_allocation_bytes = p.heaps[0].total_bytes;
    l.max_storage_buffer_range = ~std::uint64_t{0} >> 1;
    l.min_storage_buffer_offset_alignment = 4;
    for (int i = 0; i < 3; ++i) {
      l.max_workgroup_count[i] = 0xFFFFFFFFu;
      l.max_workgroup_size[i] = 1024;
    }
    l.max_workgroup_invocations = 1024;
    l.max_push_constant_bytes = 128;
    DeviceCaps& c = p.caps;
    c.fp16_arithmetic = c.int8_arithmetic = c.storage_16bit = c.storage_8bit = true;
    c.unified_memory = true;
    c.timeline_semaphores = true;
    return p;
  }

  ThreadPool pool_;
  std::unique_ptr<cpu::DispatchProfile> profile_;  // CROSSGPU_CPU_PROFILE=1 only
};

}  // namespace

std::shared_ptr<Device> make_cpu_device(std::size_t threads) {
  return std::make_shared<CpuDevice>(threads);
}

}  // namespace crossgpu
