// libFuzzer target for the data channel's frame decoders (src/cluster/data_frame.hpp): random
// bytes as a request header (what a node decodes from a client), as the grant-length prefix of a
// granted write, and as a reply header (what a client decodes from a node). A decoded frame must satisfy the limits the serving code relies
// on, and must encode back to the same bytes. Any crossgpu::Error is a correct refusal; a crash,
// a hang or another exception is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "cluster/data_frame.hpp"
#include "core/error.hpp"
#include "crossgpu/v1/node.pb.h"

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
  const bool granted_ok =
      frame.op == DataOp::granted_write && frame.handle != 0 &&
      frame.length > kGrantLengthBytes + 1 &&
      frame.length <= kMaxDataRequestBytes + kGrantLengthBytes + kMaxGrantBytes &&
      frame.offset <= ~std::uint64_t{0} - frame.length;
  const bool peer_copy_ok =
      (frame.op == DataOp::peer_copy || frame.op == DataOp::peer_copy_f16) && frame.handle != 0 && frame.length > kGrantLengthBytes + 1 &&
      frame.length <= kGrantLengthBytes + kMaxGrantBytes + kMaxPeerAddressBytes;
  // Decode chains: a chain (handle), a position (offset) for all but an abort (an Errc there),
  // and at most a grant, its length prefix and a chain's largest input or an error message.
  const bool chain_op = frame.op == DataOp::chain_step || frame.op == DataOp::chain_forward ||
                        frame.op == DataOp::chain_abort || frame.op == DataOp::chain_await ||
                        frame.op == DataOp::chain_sample;
  const bool chain_ok =
      chain_op && frame.handle != 0 && frame.length > 0 &&
      frame.length <= kGrantLengthBytes + kMaxGrantBytes + std::max(kMaxChainBytes, kMaxDataErrorBytes) &&
      (frame.op == DataOp::chain_abort || frame.offset <= kMaxChainPosition) &&
      (frame.op != DataOp::chain_sample || frame.length == kChainSamplingBytes);
  if (!bind_ok && !transfer_ok && !granted_ok && !peer_copy_ok && !chain_ok) {
    std::abort();  // a frame the node must never accept
  }
  const DataHeader again = encode_frame(frame);
  if (std::memcmp(again.data(), bytes.data(), kDataHeaderBytes) != 0) std::abort();
}

// A granted write's or peer copy's payload as the node reads it: the grant length (checked against
// the request), the grant (parsed; a valid grant is what GrantAuthority::verify then checks), the
// data or the destination address.
void check_granted_payload(const DataFrame& request, std::span<const std::byte> payload) {
  if (payload.size() < kGrantLengthBytes) return;
  std::size_t grant_bytes = 0;
  try {
    grant_bytes = decode_grant_length(payload.first<kGrantLengthBytes>(), request);
  } catch (const Error&) {
    return;
  }
  const std::uint64_t data_bytes = request.length - kGrantLengthBytes - grant_bytes;
  if (grant_bytes == 0 || grant_bytes > kMaxGrantBytes || data_bytes == 0 ||
      data_bytes > kMaxDataRequestBytes) {
    std::abort();
  }
  const auto grant = payload.subspan(kGrantLengthBytes);
  v1::WriteGrant parsed;
  (void)parsed.ParseFromArray(grant.data(), static_cast<int>(std::min(grant.size(), grant_bytes)));
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
  // The tail as a granted write's payload, for a request whose length is drawn from it too.
  if (size >= kDataHeaderBytes + 8 + kGrantLengthBytes) {
    std::uint64_t length = 0;
    std::memcpy(&length, data + kDataHeaderBytes, 8);
    const auto payload = std::span(bytes + kDataHeaderBytes + 8, size - kDataHeaderBytes - 8);
    check_granted_payload({DataOp::granted_write, 0, 1, 1, 0, length}, payload);
    check_granted_payload({DataOp::peer_copy, 0, 1, 1, 0, length}, payload);
    check_granted_payload({DataOp::peer_copy_f16, 0, 1, 1, 0, length}, payload);
  }
  return 0;
}
