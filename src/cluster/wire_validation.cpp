#include "cluster/wire_validation.hpp"

#include <cstring>
#include <string>

#include "cluster/protocol.hpp"
#include "core/error.hpp"
#include "kernels/kernel_registry.hpp"

namespace crossgpu::cluster {
namespace {

// A dispatch may cover at most this many workgroups: far beyond any real op (a 128 MiB binding
// of f32 at 256 per group is 2^17 groups), small enough that a hostile count cannot keep a CPU
// device busy for hours.
constexpr std::uint64_t kMaxTotalGroups = 1ull << 28;

}  // namespace

void check_version(const v1::Version& version) {
  if (version.major() != kProtocolMajor) {
    fail(Errc::unsupported,
         "protocol version {}.{} is not supported: this node speaks {}.{}; run the same major "
         "version of crossgpu on every device",
         version.major(), version.minor(), kProtocolMajor, kProtocolMinor);
  }
}

void check_range(std::uint64_t offset, std::uint64_t bytes, std::uint64_t size, const char* what) {
  if (offset > size || bytes > size - offset) {
    fail(Errc::out_of_range, "{}: range [{}, {}+{}) lies outside the buffer of {} bytes", what,
         offset, offset, bytes, size);
  }
}

void check_chunk(std::uint64_t offset, std::uint64_t bytes, const char* what) {
  if (bytes == 0) fail(Errc::invalid_argument, "{}: empty chunk", what);
  if (bytes > kMaxChunkBytes) {
    fail(Errc::invalid_argument, "{}: chunk of {} exceeds the protocol's {} limit", what,
         format_bytes(bytes), format_bytes(kMaxChunkBytes));
  }
  if (offset > ~std::uint64_t{0} - bytes) {
    fail(Errc::out_of_range, "{}: offset {} + {} bytes overflows", what, offset, bytes);
  }
}

void check_read(const v1::ReadRequest& request) {
  if (request.bytes() == 0) fail(Errc::invalid_argument, "read: 0 bytes asked");
  if (request.offset() > ~std::uint64_t{0} - request.bytes()) {
    fail(Errc::out_of_range, "read: offset {} + {} bytes overflows", request.offset(),
         request.bytes());
  }
}

BlobHash check_blob_range(std::uint64_t offset, std::uint64_t bytes, const std::string& sha256,
                          const char* what) {
  if (bytes == 0) fail(Errc::invalid_argument, "{}: 0 bytes", what);
  if (offset > ~std::uint64_t{0} - bytes) {
    fail(Errc::out_of_range, "{}: offset {} + {} bytes overflows", what, offset, bytes);
  }
  BlobHash hash{};
  if (sha256.size() != hash.size()) {
    fail(Errc::invalid_argument, "{}: sha256 has {} bytes, not {}", what, sha256.size(),
         hash.size());
  }
  std::memcpy(hash.data(), sha256.data(), hash.size());
  return hash;
}

const KernelSpec& check_dispatch(const v1::DispatchRequest& request) {
  const KernelSpec& kernel = kernels::kernel_by_name(request.kernel());
  if (static_cast<std::uint64_t>(request.bindings_size()) != kernel.binding_count) {
    fail(Errc::invalid_argument, "kernel '{}' takes {} buffers, {} were given", kernel.name,
         kernel.binding_count, request.bindings_size());
  }
  if (request.push_constants().size() != kernel.push_constant_bytes) {
    fail(Errc::invalid_argument, "kernel '{}' takes {} bytes of parameters, {} were given",
         kernel.name, kernel.push_constant_bytes, request.push_constants().size());
  }
  const std::uint64_t x = request.groups_x(), y = request.groups_y(), z = request.groups_z();
  if (x == 0 || y == 0 || z == 0) {
    fail(Errc::invalid_argument, "kernel '{}': workgroup counts {}x{}x{} must all be >= 1",
         kernel.name, x, y, z);
  }
  if (x > kMaxTotalGroups || y > kMaxTotalGroups / x || z > kMaxTotalGroups / (x * y)) {
    fail(Errc::out_of_range, "kernel '{}': {}x{}x{} workgroups exceed the node's limit of {}",
         kernel.name, x, y, z, kMaxTotalGroups);
  }
  return kernel;
}

void check_run(const v1::RunRequest& request) {
  if (request.commands_size() == 0) fail(Errc::invalid_argument, "Run: no commands");
  if (request.commands_size() > kMaxRunCommands) {
    fail(Errc::out_of_range, "Run: {} commands; at most {} per request", request.commands_size(),
         kMaxRunCommands);
  }
  std::uint64_t written = 0, read = 0;
  for (int i = 0; i < request.commands_size(); ++i) {
    const v1::RunCommand& command = request.commands(i);
    switch (command.command_case()) {
      case v1::RunCommand::kWrite: {
        const v1::RunWrite& w = command.write();
        if (w.data().empty()) fail(Errc::invalid_argument, "Run command {}: an empty write", i);
        check_range(w.offset(), w.data().size(), ~std::uint64_t{0}, "Run write");
        written += w.data().size();
        break;
      }
      case v1::RunCommand::kRead: {
        const v1::RunRead& r = command.read();
        if (r.bytes() == 0) fail(Errc::invalid_argument, "Run command {}: a read of 0 bytes", i);
        if (r.bytes() > kMaxRunInlineBytes) {
          fail(Errc::out_of_range, "Run command {}: a read of {} bytes; at most {} per request", i, r.bytes(),
               kMaxRunInlineBytes);
        }
        check_range(r.offset(), r.bytes(), ~std::uint64_t{0}, "Run read");
        read += r.bytes();
        break;
      }
      case v1::RunCommand::kDispatch:
        check_dispatch(command.dispatch());
        break;
      case v1::RunCommand::kReplay:
        if (command.replay() == 0) fail(Errc::invalid_argument, "Run command {}: program 0", i);
        break;
      default:
        fail(Errc::invalid_argument, "Run command {}: no command (a newer client?)", i);
    }
    if (written > kMaxRunInlineBytes || read > kMaxRunInlineBytes) {
      fail(Errc::out_of_range, "Run: more than {} bytes written or read in one request", kMaxRunInlineBytes);
    }
  }
}

void check_record(const v1::RecordRequest& request) {
  if (request.dispatches_size() == 0) fail(Errc::invalid_argument, "Record: no dispatches");
  if (request.dispatches_size() > kMaxProgramDispatches) {
    fail(Errc::out_of_range, "Record: {} dispatches; at most {} per program", request.dispatches_size(),
         kMaxProgramDispatches);
  }
  for (const v1::DispatchRequest& dispatch : request.dispatches()) check_dispatch(dispatch);
}

void check_role_name(const std::string& role) {
  if (role != "monitor" && role != "compute" && role != "admin") {
    fail(Errc::invalid_argument, "unknown role '{}' (monitor, compute or admin)",
         role.substr(0, 32));
  }
}

}  // namespace crossgpu::cluster
