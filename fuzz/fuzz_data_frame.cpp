// libFuzzer target for the data channel's frame decoders (src/cluster/data_frame.hpp): random
// bytes as a request header (what a node decodes from a client) and as a reply header (what a
// client decodes from a node). A decoded frame must satisfy the limits the serving code relies
// on, and must encode back to the same bytes. Any crossgpu::Error is a correct refusal; a crash,
// a hang or another exception is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "cluster/data_frame.hpp"
#include "core/error.hpp"

namespace {

using namespace crossgpu;
using namespace crossgpu::cluster;

void check_request(std::span<const std::byte> bytes) {
  DataFrame frame;
  try {
    frame = decode_request(bytes);
  } catch (const Error&) {
    return;
  }
  const bool bind_ok = frame.op == DataOp::bind && frame.length == kDataSecretBytes;
  const bool transfer_ok = (frame.op == DataOp::write || frame.op == DataOp::read) &&
                           frame.length > 0 && frame.length <= kMaxDataRequestBytes &&
                           frame.offset <= ~std::uint64_t{0} - frame.length;
  if (!bind_ok && !transfer_ok) std::abort();  // a frame the node must never accept
  const DataHeader again = encode_frame(frame);
  if (std::memcmp(again.data(), bytes.data(), kDataHeaderBytes) != 0) std::abort();
}

void check_reply(std::span<const std::byte> bytes, std::uint64_t id, std::uint64_t length) {
  try {
    const DataFrame frame = decode_reply(bytes, id, length);
    if (frame.request_id != id) std::abort();
    if (frame.status == 0 && frame.length != length) std::abort();
    if (frame.status != 0 && frame.length > kMaxDataErrorBytes) std::abort();
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  // Every length is tried as-is (truncated and oversized headers must be refused)...
  check_request(std::span(bytes, size));
  // ...and a full header with the expectations of a reply drawn from the input's tail.
  if (size >= kDataHeaderBytes + 16) {
    std::uint64_t id = 0, length = 0;
    std::memcpy(&id, data + kDataHeaderBytes, 8);
    std::memcpy(&length, data + kDataHeaderBytes + 8, 8);
    check_reply(std::span(bytes, kDataHeaderBytes), id, length % (kMaxDataRequestBytes + 1));
  }
  if (size >= kDataHeaderBytes) check_request(std::span(bytes, kDataHeaderBytes));
  return 0;
}
