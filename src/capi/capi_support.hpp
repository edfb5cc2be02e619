// What every C ABI entry point shares: the handle tables, guarded() (C++ errors become a
// cg_status plus a per-thread message; nothing is thrown across the boundary) and the helpers
// that fill caller-provided outputs.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "capi/handle_table.hpp"
#include "core/error.hpp"
#include "crossgpu.h"
#include "device/device.hpp"
#include "device/registry.hpp"

namespace crossgpu::capi {

// A registry behind a handle. The mutex orders cg_registry_connect's additions against readers
// of the device list (Registry itself is not synchronized).
struct RegistryEntry {
  explicit RegistryEntry(const RegistryOptions& options) : registry(options) {}
  std::mutex mutex;
  Registry registry;
};

HandleTable<std::shared_ptr<RegistryEntry>>& registries();
HandleTable<std::shared_ptr<Device>>& devices();
HandleTable<std::shared_ptr<Buffer>>& buffers();
HandleTable<Event>& events();

// The calling thread's message of its last failing call.
std::string& last_error();

template <typename Body>
cg_status guarded(Body&& body) noexcept {
  try {
    body();
    last_error().clear();
    return CG_OK;
  } catch (const Error& e) {
    last_error() = e.what();
    return static_cast<cg_status>(e.code());
  } catch (const std::bad_alloc&) {
    last_error() = "out of host memory";
    return CG_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    last_error() = std::string("internal error: ") + e.what();
    return CG_INTERNAL;
  } catch (...) {
    last_error() = "internal error: unknown exception";
    return CG_INTERNAL;
  }
}

template <typename T>
T& require(T* out, const char* what) {
  if (out == nullptr) fail(Errc::invalid_argument, "{}: the output pointer is null", what);
  return *out;
}

// A C string argument that must be given and not empty.
std::string required_text(const char* text, const char* what);

// Copies `text` into a fixed-size field, truncated and always NUL-terminated.
void copy_text(char* dst, std::size_t capacity, const std::string& text);

// The variable-size output convention of the header: `*needed` (when given) gets the full size
// including the NUL; Errc::out_of_range when `out` is null or smaller, so the caller can retry.
void write_text(const std::string& text, char* out, std::size_t capacity, std::size_t* needed, const char* what);

// Where a remote device lives; nullopt for a local one. Implemented by the cluster part of the
// C ABI (c_cluster.cpp), and by its network-less stand-in, where no device is remote.
struct RemoteLocation {
  std::string node_id;
  std::string address;
  std::string remote_id;
};
std::optional<RemoteLocation> remote_location(const Device& device);

}  // namespace crossgpu::capi
