#include "cluster/data_frame.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace crossgpu::cluster {
namespace {

// Little-endian whatever the host: the header layout is part of the protocol.
template <typename T>
void put(std::byte* at, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    at[i] = static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff);
  }
}

template <typename T>
T get(const std::byte* at) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<std::uint64_t>(at[i]) << (8 * i);
  }
  return static_cast<T>(value);
}

// Offsets of the fields: magic u32, op u16, status u16, request id, handle, offset, length u64.
DataFrame parse(std::span<const std::byte> header, Errc error) {
  if (header.size() != kDataHeaderBytes) {
    fail(error, "data frame: header of {} bytes, expected {}", header.size(), kDataHeaderBytes);
  }
  const std::byte* p = header.data();
  if (get<std::uint32_t>(p) != kDataMagic) {
    fail(error, "data frame: bad magic 0x{:08x}: not a crossgpu data channel peer",
         get<std::uint32_t>(p));
  }
  DataFrame frame;
  frame.op = static_cast<DataOp>(get<std::uint16_t>(p + 4));
  frame.status = get<std::uint16_t>(p + 6);
  frame.request_id = get<std::uint64_t>(p + 8);
  frame.handle = get<std::uint64_t>(p + 16);
  frame.offset = get<std::uint64_t>(p + 24);
  frame.length = get<std::uint64_t>(p + 32);
  return frame;
}

void check_transfer(const DataFrame& frame, const char* what) {
  if (frame.length == 0) fail(Errc::invalid_argument, "data {}: 0 bytes", what);
  if (frame.length > kMaxDataRequestBytes) {
    fail(Errc::invalid_argument, "data {}: {} bytes exceed the per-request limit of {}", what,
         frame.length, kMaxDataRequestBytes);
  }
  if (frame.offset > ~std::uint64_t{0} - frame.length) {
    fail(Errc::out_of_range, "data {}: offset {} + {} bytes overflows", what, frame.offset,
         frame.length);
  }
  if (frame.handle == 0) fail(Errc::invalid_argument, "data {}: handle 0", what);
}

// A chain request's fixed fields; `bytes`: what it carries besides a grant (at least this much).
void check_chain(const DataFrame& frame, std::uint64_t bytes, const char* what) {
  if (frame.handle == 0) fail(Errc::invalid_argument, "data {}: chain 0", what);
  if (frame.offset > kMaxChainPosition) {
    fail(Errc::out_of_range, "data {}: position {} exceeds {}", what, frame.offset, kMaxChainPosition);
  }
  if (frame.length == 0 || bytes > kMaxChainBytes) {
    fail(Errc::invalid_argument, "data {}: {} bytes; a chain moves 1..{}", what, frame.length,
         kMaxChainBytes);
  }
}

}  // namespace

DataHeader encode_frame(const DataFrame& frame) {
  DataHeader header{};
  std::byte* p = header.data();
  put(p, kDataMagic);
  put(p + 4, static_cast<std::uint16_t>(frame.op));
  put(p + 6, frame.status);
  put(p + 8, frame.request_id);
  put(p + 16, frame.handle);
  put(p + 24, frame.offset);
  put(p + 32, frame.length);
  return header;
}

DataFrame decode_request(std::span<const std::byte> header) {
  DataFrame frame = parse(header, Errc::invalid_argument);
  if (frame.status != 0) {
    fail(Errc::invalid_argument, "data request: status {} must be 0", frame.status);
  }
  switch (frame.op) {
    case DataOp::bind:
      if (frame.length != kDataSecretBytes || frame.handle == 0 ||
          frame.offset >= kMaxDataLanes) {
        fail(Errc::invalid_argument,
             "data bind: wants a session id, a lane below {} in the offset field and a {}-byte "
             "secret (got lane {}, length {})",
             kMaxDataLanes, kDataSecretBytes, frame.offset, frame.length);
      }
      return frame;
    case DataOp::write:
      check_transfer(frame, "write");
      return frame;
    case DataOp::read:
      check_transfer(frame, "read");
      return frame;
    case DataOp::granted_write: {
      constexpr std::uint64_t kOverhead = kGrantLengthBytes + kMaxGrantBytes;
      if (frame.length <= kGrantLengthBytes + 1 || frame.length > kMaxDataRequestBytes + kOverhead) {
        fail(Errc::invalid_argument,
             "data granted write: {} payload bytes; it carries a grant of 1..{} bytes and "
             "1..{} bytes of data",
             frame.length, kMaxGrantBytes, kMaxDataRequestBytes);
      }
      if (frame.handle == 0) fail(Errc::invalid_argument, "data granted write: handle 0");
      if (frame.offset > ~std::uint64_t{0} - frame.length) {
        fail(Errc::out_of_range, "data granted write: offset {} + {} bytes overflows",
             frame.offset, frame.length);
      }
      return frame;
    }
    case DataOp::peer_copy:
    case DataOp::peer_copy_f16:
      if (frame.length <= kGrantLengthBytes + 1 ||
          frame.length > kGrantLengthBytes + kMaxGrantBytes + kMaxPeerAddressBytes) {
        fail(Errc::invalid_argument,
             "data peer copy: {} payload bytes; it carries a grant of 1..{} bytes and a "
             "destination address of 1..{}",
             frame.length, kMaxGrantBytes, kMaxPeerAddressBytes);
      }
      if (frame.handle == 0) fail(Errc::invalid_argument, "data peer copy: handle 0");
      return frame;
    case DataOp::chain_step:
    case DataOp::chain_await:
      check_chain(frame, frame.length, frame.op == DataOp::chain_step ? "chain step" : "chain await");
      return frame;
    case DataOp::chain_sample:
      check_chain(frame, frame.length, "chain sample");
      if (frame.length != kChainSamplingBytes) {
        fail(Errc::invalid_argument, "data chain sample: {} payload bytes, expected {}", frame.length,
             kChainSamplingBytes);
      }
      return frame;
    case DataOp::chain_forward:
      if (frame.length <= kGrantLengthBytes + 1) {
        fail(Errc::invalid_argument, "data chain forward: {} payload bytes carry no grant and input",
             frame.length);
      }
      check_chain(frame, frame.length - kGrantLengthBytes - 1 > kMaxGrantBytes
                             ? frame.length - kGrantLengthBytes - kMaxGrantBytes
                             : 1,
                  "chain forward");
      return frame;
    case DataOp::chain_abort:
      if (frame.handle == 0 || frame.offset == 0 || frame.offset > static_cast<std::uint64_t>(last_errc) ||
          frame.length <= kGrantLengthBytes + 1 ||
          frame.length > kGrantLengthBytes + kMaxGrantBytes + kMaxDataErrorBytes) {
        fail(Errc::invalid_argument,
             "data chain abort: wants a chain, an error code 1..{} and a grant with a message of "
             "1..{} bytes (got chain {}, code {}, {} payload bytes)",
             static_cast<int>(last_errc), kMaxDataErrorBytes, frame.handle, frame.offset, frame.length);
      }
      return frame;
    default:
      fail(Errc::invalid_argument, "data request: unknown op {}",
           static_cast<unsigned>(frame.op));
  }
}

std::size_t decode_grant_length(std::span<const std::byte, kGrantLengthBytes> prefix,
                                const DataFrame& request) {
  const char* what = request.op == DataOp::peer_copy       ? "peer copy"
                     : request.op == DataOp::peer_copy_f16 ? "peer copy f16"
                     : request.op == DataOp::granted_write ? "granted write"
                                                           : "chain request";
  const std::size_t grant_bytes = get<std::uint16_t>(prefix.data());
  if (grant_bytes == 0 || grant_bytes > kMaxGrantBytes) {
    fail(Errc::invalid_argument, "data {}: a grant of {} bytes (1..{})", what, grant_bytes,
         kMaxGrantBytes);
  }
  if (request.length <= kGrantLengthBytes + grant_bytes) {
    fail(Errc::invalid_argument, "data {}: a {}-byte grant leaves nothing after it in a {}-byte "
         "payload", what, grant_bytes, request.length);
  }
  if (request.length - kGrantLengthBytes - grant_bytes > kMaxDataRequestBytes) {
    fail(Errc::invalid_argument, "data {}: {} bytes after the grant exceed the limit of {}", what,
         request.length - kGrantLengthBytes - grant_bytes, kMaxDataRequestBytes);
  }
  return grant_bytes;
}

std::array<std::byte, kGrantLengthBytes> encode_grant_length(std::size_t grant_bytes) {
  if (grant_bytes == 0 || grant_bytes > kMaxGrantBytes) {
    fail(Errc::invalid_argument, "a write grant of {} bytes cannot be sent (1..{})", grant_bytes,
         kMaxGrantBytes);
  }
  std::array<std::byte, kGrantLengthBytes> prefix{};
  put(prefix.data(), static_cast<std::uint16_t>(grant_bytes));
  return prefix;
}

std::array<std::byte, kChainSamplingBytes> encode_chain_sampling(const ChainSampling& sampling) {
  std::array<std::byte, kChainSamplingBytes> out{};
  std::uint32_t temperature = 0, top_p = 0;
  std::uint64_t u = 0;
  std::memcpy(&temperature, &sampling.temperature, sizeof(temperature));
  std::memcpy(&top_p, &sampling.top_p, sizeof(top_p));
  std::memcpy(&u, &sampling.u, sizeof(u));
  put(out.data(), temperature);
  put(out.data() + 4, sampling.top_k);
  put(out.data() + 8, top_p);
  put(out.data() + 16, u);
  return out;
}

ChainSampling decode_chain_sampling(std::span<const std::byte, kChainSamplingBytes> payload) {
  ChainSampling s;
  const auto temperature = get<std::uint32_t>(payload.data());
  const auto top_p = get<std::uint32_t>(payload.data() + 8);
  const auto u = get<std::uint64_t>(payload.data() + 16);
  std::memcpy(&s.temperature, &temperature, sizeof(temperature));
  s.top_k = get<std::uint32_t>(payload.data() + 4);
  std::memcpy(&s.top_p, &top_p, sizeof(top_p));
  std::memcpy(&s.u, &u, sizeof(u));
  if (!std::isfinite(s.temperature) || s.temperature <= 0) {
    fail(Errc::invalid_argument, "data chain sample: temperature {} (a finite number > 0)", s.temperature);
  }
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) {
    fail(Errc::invalid_argument, "data chain sample: top-p {} (in (0, 1])", s.top_p);
  }
  if (!(s.u >= 0.0 && s.u < 1.0)) fail(Errc::invalid_argument, "data chain sample: draw {} (in [0, 1))", s.u);
  if (get<std::uint32_t>(payload.data() + 12) != 0) {
    fail(Errc::invalid_argument, "data chain sample: the reserved bytes are not zero");
  }
  return s;
}

DataFrame decode_reply(std::span<const std::byte> header, std::uint64_t expected_request_id,
                       std::uint64_t expected_length) {
  DataFrame frame = parse(header, Errc::io);
  if (frame.op != DataOp::reply) {
    fail(Errc::io, "data reply: op {} is not a reply", static_cast<unsigned>(frame.op));
  }
  if (frame.request_id != expected_request_id) {
    fail(Errc::io, "data reply: answers request {}, expected {}", frame.request_id,
         expected_request_id);
  }
  if (frame.status > static_cast<std::uint16_t>(last_errc)) {
    fail(Errc::io, "data reply: unknown status {}", frame.status);
  }
  const std::uint64_t allowed = frame.status == 0 ? expected_length : kMaxDataErrorBytes;
  if (frame.status == 0 ? frame.length != allowed : frame.length > allowed) {
    fail(Errc::io, "data reply: {} payload bytes, expected {}{}", frame.length,
         frame.status == 0 ? "" : "at most ", allowed);
  }
  return frame;
}

}  // namespace crossgpu::cluster
