// libFuzzer target for the node's wire decoders and validators: the first byte picks a request
// message, the rest is parsed as that message and fed to the same checks the node runs before
// touching a device. Any crossgpu::Error is a correct refusal; a crash, a hang or another
// exception is a bug.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cluster/device_info.hpp"
#include "cluster/kernel_bounds.hpp"
#include "cluster/wire_validation.hpp"
#include "cluster/write_grant.hpp"
#include "core/error.hpp"
#include "crossgpu/v1/node.pb.h"

namespace {

using namespace crossgpu;

template <typename Message, typename Check>
void parse_and_check(const std::uint8_t* data, std::size_t size, Check check) {
  Message message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return;
  try {
    check(message);
  } catch (const Error&) {
  }
}

const cluster::GrantAuthority& authority() {
  static const cluster::GrantAuthority instance("fuzz-node");
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t kind = data[0] % 9;
  ++data;
  --size;
  switch (kind) {
    case 0:
      parse_and_check<v1::HelloRequest>(data, size, [](const auto& m) {
        cluster::check_version(m.version());
      });
      break;
    case 1:
      parse_and_check<v1::ReadRequest>(data, size, [](const auto& m) {
        cluster::check_read(m);
        cluster::check_range(m.offset(), m.bytes(), 1 << 20, "read");
      });
      break;
    case 2:
      parse_and_check<v1::WriteChunk>(data, size, [](const auto& m) {
        cluster::check_chunk(m.offset(), m.data().size(), "write");
        cluster::check_range(m.offset(), m.data().size(), 1 << 20, "write");
      });
      break;
    case 3:
      parse_and_check<v1::DispatchRequest>(data, size, [](const auto& m) {
        const KernelSpec& kernel = cluster::check_dispatch(m);
        // Binding sizes from the request's own byte counts: any value the node could see.
        std::vector<std::uint64_t> bytes;
        for (const auto& binding : m.bindings()) bytes.push_back(binding.bytes());
        cluster::check_kernel_bounds(kernel, std::as_bytes(std::span(m.push_constants())), bytes,
                                     Groups{m.groups_x(), m.groups_y(), m.groups_z()});
      });
      break;
    case 4:
      parse_and_check<v1::DeviceInfo>(data, size, [](const auto& m) { cluster::from_wire(m); });
      break;
    case 5:
      parse_and_check<v1::WriteGrant>(data, size, [](const auto& m) {
        authority().verify(m, "fuzz-peer");
      });
      break;
    case 6:
      parse_and_check<v1::RunRequest>(data, size, [](const auto& m) { cluster::check_run(m); });
      break;
    case 7:
      parse_and_check<v1::RecordRequest>(data, size, [](const auto& m) { cluster::check_record(m); });
      break;
    default:
      parse_and_check<v1::GrantedWriteChunk>(data, size, [](const auto& m) {
        authority().verify(m.grant(), "fuzz-peer");
        cluster::check_chunk(m.offset(), m.data().size(), "granted write");
        cluster::check_range(m.offset(), m.data().size(), m.grant().bytes(), "granted write");
      });
      break;
  }
  return 0;
}
