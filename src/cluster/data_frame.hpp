// The data channel's framing: a fixed 40-byte little-endian header, then `length` bytes of
// payload. Requests: bind (payload: the session's one-time secret), write (payload: the data),
// read (no payload), granted write (payload: a u16 grant length, the serialized WriteGrant the
// buffer's owner node issued, then the data; the source node's part of a node-to-node copy),
// peer copy (payload: a u16 grant length, the grant, the destination's host:port; the client's
// request that starts a node-to-node copy). Every request gets one reply, in order, carrying its request id: a status
// (an Errc value, 0 for success) and as payload the data of a read or the message of an error.
// docs/PROTOCOL.md, "Data channel", is the specification. Kept free of sockets and sessions so
// that the fuzz target decodes exactly what the node decodes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace crossgpu::cluster {

enum class DataOp : std::uint16_t {
  bind = 1,
  write = 2,
  read = 3,
  granted_write = 4,
  peer_copy = 5,
  // Decode chains (src/cluster/stage_chain.hpp): a stage's step started by the client, passed on
  // by the previous stage's node, a failure passed on, and the client's wait for the result.
  chain_step = 6,
  chain_forward = 7,
  chain_abort = 8,
  chain_await = 9,
  // The client's wait for a chain's result as a token the last node sampled: its payload is a
  // ChainSampling (kChainSamplingBytes), its answer the token (4 bytes).
  chain_sample = 10,
  // A peer copy whose source rounds each f32 of the range to the nearest f16 (ties to even)
  // before sending it: a pipelined prefill's hidden states crossing an f16 stage boundary node to
  // node (docs/PROTOCOL.md, "Pipelined prefill"). Its payload is a peer copy's.
  peer_copy_f16 = 11,
  reply = 0x80
};

struct DataFrame {
  DataOp op = DataOp::reply;
  std::uint16_t status = 0;  // replies: an Errc value; requests: 0
  std::uint64_t request_id = 0;
  std::uint64_t handle = 0;  // bind: the session id; write/read: the buffer handle
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // payload bytes after the header (read request: bytes asked)
};

inline constexpr std::size_t kDataHeaderBytes = 40;
inline constexpr std::uint32_t kDataMagic = 0x31444743;  // "CGD1" read as little-endian
inline constexpr std::size_t kDataSecretBytes = 32;
// One write or read request moves at most this much; clients split larger transfers into
// pipelined requests. It bounds what a refused request makes the node discard.
inline constexpr std::uint64_t kMaxDataRequestBytes = 64ull << 20;
// How many data connections one session may bind: a bind names its lane (0..kMaxDataLanes-1) in
// the offset field, and each lane binds once. Several lanes let one large transfer use several
// cores for TLS on each side (one core's AES-GCM and record handling is slower than a fast link).
inline constexpr std::uint32_t kMaxDataLanes = 8;
// The most lanes a client opens unless told otherwise (default_data_lanes()); a node sizes its
// connection limit for this many per session.
inline constexpr std::uint32_t kDefaultDataLanesCap = 4;
// A granted write's payload starts with the grant's length (u16, little-endian) and the grant
// (a serialized v1::WriteGrant: two node ids, a MAC, a few integers; well under this bound).
inline constexpr std::size_t kGrantLengthBytes = 2;
inline constexpr std::size_t kMaxGrantBytes = 512;
// A peer copy's destination address (host:port) after its grant.
inline constexpr std::size_t kMaxPeerAddressBytes = 255;
// The message of an error reply is cut to this length.
inline constexpr std::uint64_t kMaxDataErrorBytes = 1024;
// A decode chain's input and output (a hidden state, a row of logits) are at most this big.
inline constexpr std::uint64_t kMaxChainBytes = 2ull << 20;
// A chain step's position (the header's offset field) is a u32.
inline constexpr std::uint64_t kMaxChainPosition = 0xffffffffull;

using DataHeader = std::array<std::byte, kDataHeaderBytes>;

// What a chain's last node samples the next token with (model::Sampler::pick's options and draw),
// a chain sample request's payload, little-endian: temperature f32, top_k u32, top_p f32, four
// zero bytes, u f64.
struct ChainSampling {
  float temperature = 1.0f;  // > 0
  std::uint32_t top_k = 0;   // 0: no limit
  float top_p = 1.0f;        // (0, 1]
  double u = 0;              // the client's draw, [0, 1)
};
inline constexpr std::size_t kChainSamplingBytes = 24;
std::array<std::byte, kChainSamplingBytes> encode_chain_sampling(const ChainSampling& sampling);
// From an untrusted peer: temperature finite and > 0, top_p in (0, 1], u in [0, 1), the reserved
// bytes zero; Errc::invalid_argument naming the field otherwise.
ChainSampling decode_chain_sampling(std::span<const std::byte, kChainSamplingBytes> payload);

DataHeader encode_frame(const DataFrame& frame);

// Decodes a request header from an untrusted client: magic, a known request op, status 0, and
// per op: bind carries exactly kDataSecretBytes, a non-zero session id and a lane below
// kMaxDataLanes; write and read ask for
// 1..kMaxDataRequestBytes with offset + length not overflowing; a granted write carries at most
// kGrantLengthBytes + kMaxGrantBytes + kMaxDataRequestBytes (its parts: decode_grant_length);
// a peer copy names its source buffer and offset and carries at most
// kGrantLengthBytes + kMaxGrantBytes + kMaxPeerAddressBytes; chain step and chain await name a
// chain (handle), a position up to kMaxChainPosition (offset) and 1..kMaxChainBytes (the step's
// input, the await's expected output); a chain forward carries a grant and 1..kMaxChainBytes;
// a chain abort an Errc (offset, 1..last_errc), a grant and a message of 1..kMaxDataErrorBytes;
// a chain sample names a chain and a position and carries kChainSamplingBytes.
// Errc::invalid_argument or
// Errc::out_of_range naming the field otherwise. Handle and range against the buffer are checked
// by the session (Session::resolve), as for gRPC calls.
DataFrame decode_request(std::span<const std::byte> header);

// The grant length that starts a granted write's or a peer copy's payload: 1..kMaxGrantBytes,
// leaving at least one byte (of data, or of the address) and at most kMaxDataRequestBytes in the
// request's `length`. Errc::invalid_argument otherwise.
std::size_t decode_grant_length(std::span<const std::byte, kGrantLengthBytes> prefix,
                                const DataFrame& request);
// The prefix itself, for the sender.
std::array<std::byte, kGrantLengthBytes> encode_grant_length(std::size_t grant_bytes);

// Decodes a reply header from the node (also untrusted): magic, op reply, a known Errc status,
// and the id and payload length the client expects (`expected_length` for a successful read,
// 0 for other successes, at most kMaxDataErrorBytes for errors). Errc::io otherwise.
DataFrame decode_reply(std::span<const std::byte> header, std::uint64_t expected_request_id,
                       std::uint64_t expected_length);

}  // namespace crossgpu::cluster
