// The C ABI (include/crossgpu.h) over the C++ device model and ops: registries, devices, buffers,
// transfers, events and kernels. Every entry point runs inside guarded() (capi_support.hpp).
// Telemetry and the cluster live in their own files.
#include "crossgpu.h"

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "capi/capi_support.hpp"
#include "device/vulkan/vulkan_backend.hpp"
#include "kernels/ops.hpp"

namespace crossgpu::capi {
namespace {

// Waits when the caller passed no event slot; else hands the event out as a new handle.
void finish(const Event& event, cg_event* out) {
  if (out == nullptr) {
    event.wait();
  } else {
    *out = events().add(event);
  }
}

std::shared_ptr<Buffer> buffer(cg_buffer handle) { return buffers().get(handle); }
Stream& stream_of(const Buffer& b) { return b.device().stream(); }

// Enum-typed values from C are taken as int: a value outside the enum is checked here, never
// loaded into the enum type (undefined behaviour).
ops::DType dtype(int type) {
  if (type == CG_F32) return ops::DType::f32;
  if (type == CG_F16) return ops::DType::f16;
  fail(Errc::invalid_argument, "unknown dtype {}", type);
}

// Validation messages taken from the Vulkan layer but not yet handed to a caller (its buffer
// was too small): they stay here for the next cg_validation_messages_take.
struct PendingMessages {
  std::mutex mutex;
  std::string text;
};
PendingMessages& pending_messages() {
  static PendingMessages pending;
  return pending;
}

}  // namespace
}  // namespace crossgpu::capi

using namespace crossgpu;
using namespace crossgpu::capi;

extern "C" {

uint32_t cg_abi_version(void) { return CROSSGPU_ABI_VERSION; }
const char* cg_last_error(void) { return last_error().c_str(); }
const char* cg_status_name(cg_status status) { return errc_name(static_cast<Errc>(status)).data(); }

cg_status cg_registry_create(int validation, cg_registry* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_registry_create");
    RegistryOptions options;
    options.validation = validation != 0;
    slot = registries().add(std::make_shared<RegistryEntry>(options));
  });
}

cg_status cg_registry_free(cg_registry registry) {
  return guarded([&] { registries().remove(registry); });
}

cg_status cg_registry_device_count(cg_registry registry, size_t* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_registry_device_count");
    const auto entry = registries().get(registry);
    std::lock_guard lock(entry->mutex);
    slot = entry->registry.devices().size();
  });
}

cg_status cg_registry_device(cg_registry registry, size_t index, cg_device* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_registry_device");
    const auto entry = registries().get(registry);
    std::lock_guard lock(entry->mutex);
    const auto& list = entry->registry.devices();
    if (index >= list.size()) fail(Errc::out_of_range, "device index {} of {} devices", index, list.size());
    slot = devices().add(list[index]);
  });
}

cg_status cg_device_release(cg_device device) {
  return guarded([&] { devices().remove(device); });
}

cg_status cg_device_info_get(cg_device device, cg_device_info* out) {
  return guarded([&] {
    auto& info = require(out, "cg_device_info_get");
    const DeviceProperties p = devices().get(device)->refreshed_properties();
    info = cg_device_info{};
    copy_text(info.id, sizeof(info.id), p.id);
    copy_text(info.name, sizeof(info.name), p.name);
    copy_text(info.vendor, sizeof(info.vendor), to_string(p.vendor));
    copy_text(info.type, sizeof(info.type), to_string(p.type));
    copy_text(info.backend, sizeof(info.backend), to_string(p.backend));
    copy_text(info.driver_version, sizeof(info.driver_version), p.driver_version);
    for (const MemoryHeap& heap : p.heaps) {
      if (!heap.device_local) continue;
      info.memory_total_bytes += heap.total_bytes;
      info.memory_free_bytes += heap.free_bytes;
    }
    info.max_allocation_bytes = p.limits.max_allocation_bytes;
    info.subgroup_size = p.limits.subgroup_size;
    info.fp16 = p.caps.fp16_arithmetic;
    info.storage_16bit = p.caps.storage_16bit;
    info.unified_memory = p.caps.unified_memory;
  });
}

cg_status cg_device_properties_json(cg_device device, char* out, size_t capacity, size_t* needed) {
  return guarded([&] {
    const std::string text = nlohmann::json(devices().get(device)->refreshed_properties()).dump();
    write_text(text, out, capacity, needed, "the properties JSON");
  });
}

cg_status cg_device_synchronize(cg_device device) {
  return guarded([&] { devices().get(device)->synchronize(); });
}

cg_status cg_buffer_alloc(cg_device device, uint64_t bytes, int kind, cg_buffer* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_buffer_alloc");
    if (kind != CG_MEMORY_DEVICE_LOCAL && kind != CG_MEMORY_HOST_VISIBLE) {
      fail(Errc::invalid_argument, "unknown memory kind {}", kind);
    }
    const MemoryKind memory = kind == CG_MEMORY_HOST_VISIBLE ? MemoryKind::host_visible : MemoryKind::device_local;
    slot = buffers().add(std::make_shared<Buffer>(devices().get(device)->allocate(bytes, memory)));
  });
}

cg_status cg_buffer_free(cg_buffer b) {
  return guarded([&] { buffers().remove(b); });
}

cg_status cg_buffer_size(cg_buffer b, uint64_t* out) {
  return guarded([&] { require(out, "cg_buffer_size") = buffer(b)->size(); });
}

cg_status cg_buffer_device(cg_buffer b, cg_device* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_buffer_device");
    slot = devices().add(buffer(b)->device().shared_from_this());
  });
}

cg_status cg_buffer_map(cg_buffer b, void** out) {
  return guarded([&] { require(out, "cg_buffer_map") = buffer(b)->mapped().data(); });
}

cg_status cg_upload(cg_buffer dst, uint64_t offset, const void* src, uint64_t bytes, cg_event* event) {
  return guarded([&] {
    auto target = buffer(dst);
    if (src == nullptr && bytes > 0) fail(Errc::invalid_argument, "cg_upload: source pointer is null");
    finish(stream_of(*target).upload(*target, offset, {static_cast<const std::byte*>(src), bytes}), event);
  });
}

cg_status cg_download(cg_buffer src, uint64_t offset, void* dst, uint64_t bytes, cg_event* event) {
  return guarded([&] {
    auto source = buffer(src);
    if (dst == nullptr && bytes > 0) fail(Errc::invalid_argument, "cg_download: destination pointer is null");
    finish(stream_of(*source).download(*source, offset, {static_cast<std::byte*>(dst), bytes}), event);
  });
}

cg_status cg_copy(cg_buffer src, uint64_t src_offset, cg_buffer dst, uint64_t dst_offset, uint64_t bytes,
                  cg_event* event) {
  return guarded([&] {
    auto from = buffer(src), to = buffer(dst);
    if (&from->device() == &to->device()) {
      finish(stream_of(*from).copy(*from, src_offset, *to, dst_offset, bytes), event);
    } else {
      copy_between_devices(*from, src_offset, *to, dst_offset, bytes);
      finish(Event{}, event);
    }
  });
}

cg_status cg_event_wait(cg_event event, uint64_t timeout_ns) {
  return guarded([&] { events().get(event).wait(std::chrono::nanoseconds(timeout_ns)); });
}

cg_status cg_event_ready(cg_event event, int* out) {
  return guarded([&] { require(out, "cg_event_ready") = events().get(event).ready() ? 1 : 0; });
}

cg_status cg_event_free(cg_event event) {
  return guarded([&] { events().remove(event); });
}

cg_status cg_fill(cg_buffer out, uint64_t offset, uint64_t n, float value, cg_event* event) {
  return guarded([&] {
    auto o = buffer(out);
    finish(ops::fill(stream_of(*o), ops::TensorRef(*o, offset), n, value), event);
  });
}

cg_status cg_add(cg_buffer a, cg_buffer b, cg_buffer out, uint64_t n, cg_event* event) {
  return guarded([&] {
    auto x = buffer(a), y = buffer(b), o = buffer(out);
    finish(ops::add(stream_of(*o), *x, *y, *o, n), event);
  });
}

cg_status cg_mul(cg_buffer a, cg_buffer b, cg_buffer out, uint64_t n, cg_event* event) {
  return guarded([&] {
    auto x = buffer(a), y = buffer(b), o = buffer(out);
    finish(ops::mul(stream_of(*o), *x, *y, *o, n), event);
  });
}

cg_status cg_scale(cg_buffer x, cg_buffer out, uint64_t n, float alpha, cg_event* event) {
  return guarded([&] {
    auto in = buffer(x), o = buffer(out);
    finish(ops::scale(stream_of(*o), *in, *o, n, alpha), event);
  });
}

cg_status cg_silu(cg_buffer x, cg_buffer out, uint64_t n, cg_event* event) {
  return guarded([&] {
    auto in = buffer(x), o = buffer(out);
    finish(ops::silu(stream_of(*o), *in, *o, n), event);
  });
}

cg_status cg_matmul(cg_buffer a, cg_buffer b, cg_buffer c, uint64_t m, uint64_t n, uint64_t k, int inputs,
                    cg_event* event) {
  return guarded([&] {
    auto x = buffer(a), y = buffer(b), o = buffer(c);
    finish(ops::matmul(stream_of(*o), *x, *y, *o, {.m = m, .n = n, .k = k}, dtype(inputs)), event);
  });
}

cg_status cg_matvec(cg_buffer a, cg_buffer x, cg_buffer y, uint64_t rows, uint64_t cols, int matrix,
                    cg_event* event) {
  return guarded([&] {
    auto m = buffer(a), v = buffer(x), o = buffer(y);
    finish(ops::matvec(stream_of(*o), *m, *v, *o, rows, cols, dtype(matrix)), event);
  });
}

cg_status cg_softmax(cg_buffer x, cg_buffer y, uint64_t rows, uint64_t cols, cg_event* event) {
  return guarded([&] {
    auto in = buffer(x), o = buffer(y);
    finish(ops::softmax(stream_of(*o), *in, *o, rows, cols), event);
  });
}

cg_status cg_rms_norm(cg_buffer x, cg_buffer weight, cg_buffer y, uint64_t rows, uint64_t cols, float eps,
                      cg_event* event) {
  return guarded([&] {
    auto in = buffer(x), w = buffer(weight), o = buffer(y);
    finish(ops::rms_norm(stream_of(*o), *in, *w, *o, rows, cols, eps), event);
  });
}

cg_status cg_sum(cg_buffer x, cg_buffer out, uint64_t n, cg_event* event) {
  return guarded([&] {
    auto in = buffer(x), o = buffer(out);
    finish(ops::sum(stream_of(*o), *in, *o, n), event);
  });
}

cg_status cg_max(cg_buffer x, cg_buffer out, uint64_t n, cg_event* event) {
  return guarded([&] {
    auto in = buffer(x), o = buffer(out);
    finish(ops::max(stream_of(*o), *in, *o, n), event);
  });
}

cg_status cg_validation_messages_take(char* out, size_t capacity, size_t* needed) {
  return guarded([&] {
    PendingMessages& pending = pending_messages();
    std::lock_guard lock(pending.mutex);
    for (const std::string& message : vulkan::take_validation_messages()) pending.text += message + "\n";
    write_text(pending.text, out, capacity, needed, "the validation messages");
    pending.text.clear();
  });
}

cg_status cg_validation_message_count(uint64_t* out) {
  return guarded([&] { require(out, "cg_validation_message_count") = vulkan::validation_message_count(); });
}

}  // extern "C"
