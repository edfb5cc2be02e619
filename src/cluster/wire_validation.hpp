// Checks of request messages that need no session state: version, chunk sizes, kernel names,
// binding and push-constant counts, workgroup counts. Each throws a typed Error that names the
// field. Kept free of gRPC so that the fuzz targets exercise exactly what the node runs.
#pragma once

#include <cstdint>
#include <string>

#include "cluster/weight_cache.hpp"
#include "crossgpu/v1/node.pb.h"
#include "device/kernel.hpp"

namespace crossgpu::cluster {

// Errc::unsupported for another major version (or a missing version).
void check_version(const v1::Version& version);

// offset + bytes <= size, without overflow. Errc::out_of_range naming `what`.
void check_range(std::uint64_t offset, std::uint64_t bytes, std::uint64_t size, const char* what);

// One write chunk: non-empty, at most kMaxChunkBytes, offset + size without overflow.
void check_chunk(std::uint64_t offset, std::uint64_t bytes, const char* what);

// Read requests: bytes > 0 and offset + bytes without overflow (the buffer bound is checked
// against the session's object).
void check_read(const v1::ReadRequest& request);

// A weight-cache range (FillFromCache, StoreToCache): bytes > 0, offset + bytes without overflow
// and a hash of exactly 32 bytes, which it returns. The buffer bound is the session's check.
BlobHash check_blob_range(std::uint64_t offset, std::uint64_t bytes, const std::string& sha256,
                          const char* what);

// Kernel name, binding count, push-constant size and workgroup counts. Returns the kernel.
const KernelSpec& check_dispatch(const v1::DispatchRequest& request);

// A Run's shape before anything runs: 1..kMaxRunCommands commands, each of a known kind;
// writes non-empty with offset + size not overflowing; reads asking 1.. bytes; written and read
// bytes each at most kMaxRunInlineBytes in total; every dispatch passes check_dispatch. Buffer
// bounds and programs are checked against the session as each command is resolved.
void check_run(const v1::RunRequest& request);

// A Record's shape: 1..kMaxProgramDispatches dispatches, each passing check_dispatch.
void check_record(const v1::RecordRequest& request);

// A role name from the wire: "monitor" | "compute" | "admin".
void check_role_name(const std::string& role);

}  // namespace crossgpu::cluster
