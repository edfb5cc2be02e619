// Host<->device, pinned, device-local and cross-device bandwidth, and small-copy latency.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "bench.hpp"
#include "core/error.hpp"

namespace crossgpu::bench {

HostMemory::HostMemory(std::uint64_t bytes) : src(bytes), dst(bytes) {
  for (std::uint64_t i = 0; i < bytes; ++i) src[i] = static_cast<std::byte>(i * 131 + 7);
  std::memset(dst.data(), 0, bytes);
}

std::vector<std::uint64_t> transfer_sizes(std::uint64_t cap) {
  std::vector<std::uint64_t> sizes;
  for (std::uint64_t size = 4096; size <= cap; size *= 4) sizes.push_back(size);
  return sizes;
}

namespace {

std::uint64_t free_device_local_bytes(Device& device) {
  std::uint64_t free = 0;
  for (const MemoryHeap& heap : device.refreshed_properties().heaps) {
    if (heap.device_local) free += heap.free_bytes;
  }
  return free;
}

// Host memory that can be had without swapping: the host side of a transfer needs it too.
// MemAvailable counts reclaimable page cache, which the free page count does not.
std::uint64_t available_host_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  std::uint64_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return static_cast<std::uint64_t>(sysconf(_SC_AVPHYS_PAGES)) *
         static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

std::uint64_t transfer_cap(Device& device, std::uint64_t max_bytes, int buffers) {
  const std::uint64_t free = free_device_local_bytes(device) / buffers;
  return std::min({max_bytes, device.properties().limits.max_allocation_bytes, free,
                   available_host_bytes() / 4});
}

Timing MemcpyBaseline::measure(std::uint64_t bytes, const std::string& context) {
  const Timing timing =
      bench::measure(policy_, [&] { std::memcpy(host_.dst.data(), host_.src.data(), bytes); });
  report_.add(Record{.section = "memcpy",
                     .op = "memcpy",
                     .device_id = "host",
                     .device = "host",
                     .bytes = bytes,
                     .timing = timing,
                     .context = context});
  return timing;
}

namespace {

struct TransferOp {
  const char* name;
  std::function<void(std::uint64_t)> run;  // moves `size` bytes and waits
};

// Buffers of one device's transfer table, warmed so that no measurement pays first touch.
struct DeviceBuffers {
  Buffer a, b, pinned;
};

DeviceBuffers allocate_warm(Device& device, std::uint64_t bytes, const HostMemory& host) {
  DeviceBuffers buffers{device.allocate(bytes), device.allocate(bytes),
                        device.allocate(bytes, MemoryKind::host_visible)};
  const std::span<const std::byte> data(host.src.data(), bytes);
  device.stream().upload(buffers.a, 0, data);
  device.stream().upload(buffers.b, 0, data);
  std::memcpy(buffers.pinned.mapped().data(), host.src.data(), bytes);
  device.synchronize();
  return buffers;
}

// "pinned": the host data already sits in mapped host-visible memory (the producer wrote it
// there), so the device copies it straight, the path that reaches the bus rate on a real GPU.
std::vector<TransferOp> transfer_ops(Device& device, DeviceBuffers& buf, HostMemory& host) {
  Stream& s = device.stream();
  return {
      {"h2d",
       [&](std::uint64_t n) {
         s.upload(buf.a, 0, std::span<const std::byte>(host.src.data(), n)).wait();
       }},
      {"d2h", [&](std::uint64_t n) { s.download(buf.a, 0, std::span(host.dst.data(), n)).wait(); }},
      {"h2d pinned", [&](std::uint64_t n) { s.copy(buf.pinned, 0, buf.a, 0, n).wait(); }},
      {"d2h pinned", [&](std::uint64_t n) { s.copy(buf.a, 0, buf.pinned, 0, n).wait(); }},
      {"d2d", [&](std::uint64_t n) { s.copy(buf.a, 0, buf.b, 0, n).wait(); }},
  };
}

Record device_record(const char* section, const std::string& op, const Device& device,
                     std::uint64_t bytes, const Timing& timing) {
  return Record{.section = section,
                .op = op,
                .device_id = device.id(),
                .device = device.properties().name,
                .bytes = bytes,
                .timing = timing};
}

}  // namespace

void run_transfer_bench(Device& device, const BenchConfig& config, MemcpyBaseline& memcpy,
                        HostMemory& host, Report& report) {
  const std::string title =
      fmt::format("transfers on {} [{}]: GB/s (% of the memcpy of that row, measured just before)",
                  device.properties().name, device.id());
  const std::uint64_t cap =
      std::min<std::uint64_t>(transfer_cap(device, config.max_bytes, 3), host.src.size());
  const std::vector<std::uint64_t> sizes = transfer_sizes(cap);
  if (sizes.empty()) {
    fmt::print("\n{}\n  skipped: less than 4 KiB of room for three buffers\n", title);
    return;
  }
  DeviceBuffers buffers = allocate_warm(device, sizes.back(), host);
  const std::vector<TransferOp> ops = transfer_ops(device, buffers, host);
  std::vector<apps::Column> columns{{"size", apps::Align::right}, {"memcpy", apps::Align::right}};
  for (const TransferOp& op : ops) columns.push_back({op.name, apps::Align::right});
  apps::Table table(columns);
  for (std::uint64_t size : sizes) {
    const Timing baseline = memcpy.measure(size, "transfers on " + device.id());
    const double baseline_rate = gb_per_s(static_cast<double>(size), baseline.median_s);
    std::vector<std::string> row{size_label(size), fmt::format("{:.2f}", baseline_rate)};
    for (const TransferOp& op : ops) {
      Record record = device_record("transfer", op.name, device, size,
                                    measure(config.bandwidth, [&] { op.run(size); }));
      record.baseline = "memcpy";
      record.baseline_s = baseline.median_s;
      row.push_back(rate_with_ratio(record.gb_per_s(), baseline_rate));
      report.add(std::move(record));
    }
    table.add_row(std::move(row));
  }
  Report::print(title, table);
}

void run_latency_bench(const std::vector<std::shared_ptr<Device>>& devices,
                       const BenchConfig& config, Report& report) {
  apps::Table table({{"device"},
                     {"upload 4 B", apps::Align::right},
                     {"download 4 B", apps::Align::right},
                     {"copy 4 B", apps::Align::right}});
  for (const auto& device : devices) {
    Buffer a = device->allocate(256);
    Buffer b = device->allocate(256);
    std::uint32_t word = 42;
    const auto bytes = std::as_writable_bytes(std::span(&word, 1));
    Stream& s = device->stream();
    const std::vector<TransferOp> ops{
        {"upload",
         [&](std::uint64_t) { s.upload(a, 0, std::span<const std::byte>(bytes)).wait(); }},
        {"download", [&](std::uint64_t) { s.download(a, 0, bytes).wait(); }},
        {"copy", [&](std::uint64_t) { s.copy(a, 0, b, 0, 4).wait(); }}};
    std::vector<std::string> row{device->properties().name};
    for (const TransferOp& op : ops) {
      const Timing t = measure(config.latency, [&] { op.run(4); });
      row.push_back(duration_label(t.median_s));
      report.add(device_record("latency", op.name, *device, 4, t));
    }
    table.add_row(std::move(row));
  }
  Report::print("small-copy latency: enqueue + wait round trip, median", table);
}

namespace {

using DevicePair = std::pair<std::shared_ptr<Device>, std::shared_ptr<Device>>;

// One column of the cross-device table: every size from `from` to `to`.
std::vector<std::string> cross_device_column(const DevicePair& pair,
                                             const std::vector<std::uint64_t>& sizes,
                                             const BenchConfig& config, MemcpyBaseline& memcpy,
                                             Report& report) {
  auto& [from, to] = pair;
  const std::uint64_t cap =
      std::min(transfer_cap(*from, config.max_bytes, 1), transfer_cap(*to, config.max_bytes, 1));
  std::vector<std::string> cells(sizes.size(), "-");
  if (cap < sizes.front()) return cells;
  const std::uint64_t largest = transfer_sizes(cap).back();
  Buffer src = from->allocate(largest);
  Buffer dst = to->allocate(largest);
  copy_between_devices(src, 0, dst, 0, largest);  // first touch of both buffers
  for (std::size_t i = 0; i < sizes.size() && sizes[i] <= largest; ++i) {
    const std::uint64_t n = sizes[i];
    const std::string op = "copy to " + to->id();
    const Timing baseline = memcpy.measure(n, from->id() + " " + op);
    Record record =
        device_record("cross_device", op, *from, n,
                      measure(config.bandwidth, [&] { copy_between_devices(src, 0, dst, 0, n); }));
    record.baseline = "memcpy";
    record.baseline_s = baseline.median_s;
    cells[i] =
        rate_with_ratio(record.gb_per_s(), gb_per_s(static_cast<double>(n), baseline.median_s));
    report.add(std::move(record));
  }
  return cells;
}

}  // namespace

void run_cross_device_bench(const std::vector<std::shared_ptr<Device>>& devices,
                            const BenchConfig& config, MemcpyBaseline& memcpy, Report& report) {
  if (devices.size() < 2) return;
  const std::vector<std::uint64_t> sizes = transfer_sizes(config.max_bytes);
  std::vector<apps::Column> columns{{"size", apps::Align::right}};
  std::vector<std::vector<std::string>> cells;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    for (std::size_t j = 0; j < devices.size(); ++j) {
      if (i == j) continue;
      columns.push_back({fmt::format("[{}] -> [{}]", i, j), apps::Align::right});
      cells.push_back(cross_device_column({devices[i], devices[j]}, sizes, config, memcpy, report));
    }
  }
  apps::Table table(columns);
  for (std::size_t row = 0; row < sizes.size(); ++row) {
    std::vector<std::string> line{size_label(sizes[row])};
    bool measured = false;
    for (const auto& column : cells) {
      line.push_back(column[row]);
      measured |= column[row] != "-";
    }
    if (measured) table.add_row(std::move(line));
  }
  Report::print(
      "copy_between_devices: GB/s (% of a memcpy of "
      "the same size measured alongside); devices numbered as in the list above",
      table);
}

}  // namespace crossgpu::bench
