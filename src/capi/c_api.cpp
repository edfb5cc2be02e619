// The C ABI (include/crossgpu.h) over the C++ device model and ops. Every entry point runs inside
// guarded(): C++ errors become a cg_status plus a per-thread message; nothing is thrown across.
#include "crossgpu.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <nlohmann/json.hpp>

#include "capi/handle_table.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"
#include "kernels/ops.hpp"

namespace crossgpu::capi {
namespace {

thread_local std::string last_error;

HandleTable<std::shared_ptr<Registry>>& registries() {
  static HandleTable<std::shared_ptr<Registry>> table("registry");
  return table;
}
HandleTable<std::shared_ptr<Device>>& devices() {
  static HandleTable<std::shared_ptr<Device>> table("device");
  return table;
}
HandleTable<std::shared_ptr<Buffer>>& buffers() {
  static HandleTable<std::shared_ptr<Buffer>> table("buffer");
  return table;
}
HandleTable<Event>& events() {
  static HandleTable<Event> table("event");
  return table;
}

template <typename Body>
cg_status guarded(Body&& body) noexcept {
  try {
    body();
    last_error.clear();
    return CG_OK;
  } catch (const Error& e) {
    last_error = e.what();
    return static_cast<cg_status>(e.code());
  } catch (const std::bad_alloc&) {
    last_error = "out of host memory";
    return CG_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    last_error = std::string("internal error: ") + e.what();
    return CG_INTERNAL;
  } catch (...) {
    last_error = "internal error: unknown exception";
    return CG_INTERNAL;
  }
}

template <typename T>
T& require(T* out, const char* what) {
  if (out == nullptr) fail(Errc::invalid_argument, "{}: the output pointer is null", what);
  return *out;
}

// Waits when the caller passed no event slot; else hands the event out as a new handle.
void finish(const Event& event, cg_event* out) {
  if (out == nullptr) {
    event.wait();
  } else {
    *out = events().add(event);
  }
}

void copy_text(char* dst, std::size_t capacity, const std::string& text) {
  std::strncpy(dst, text.c_str(), capacity - 1);
  dst[capacity - 1] = '\0';
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

}  // namespace
}  // namespace crossgpu::capi

using namespace crossgpu;
using namespace crossgpu::capi;

extern "C" {

uint32_t cg_abi_version(void) { return CROSSGPU_ABI_VERSION; }
const char* cg_last_error(void) { return last_error.c_str(); }
const char* cg_status_name(cg_status status) { return errc_name(static_cast<Errc>(status)).data(); }

cg_status cg_registry_create(int validation, cg_registry* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_registry_create");
    RegistryOptions options;
    options.validation = validation != 0;
    slot = registries().add(std::make_shared<Registry>(options));
  });
}

cg_status cg_registry_free(cg_registry registry) {
  return guarded([&] { registries().remove(registry); });
}

cg_status cg_registry_device_count(cg_registry registry, size_t* out) {
  return guarded([&] { require(out, "cg_registry_device_count") = registries().get(registry)->devices().size(); });
}

cg_status cg_registry_device(cg_registry registry, size_t index, cg_device* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_registry_device");
    const auto& list = registries().get(registry)->devices();
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
    if (needed != nullptr) *needed = text.size() + 1;
    if (out == nullptr || capacity < text.size() + 1) {
      fail(Errc::out_of_range, "properties JSON needs {} bytes, the buffer holds {}", text.size() + 1, capacity);
    }
    std::memcpy(out, text.c_str(), text.size() + 1);
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

}  // extern "C"
