// The data channel's decode-chain requests (docs/PROTOCOL.md, "Decode chains"). A step's input
// is read whole and acknowledged at once (the sender does not wait for the stage's compute),
// then the stage runs on this connection's thread and its result goes on: to the next stage's
// node over this node's own link to it (PeerLinks: a member it watches, the grant the client
// set up), or into the chain's mailbox for the client's await. A failure after the
// acknowledgement travels the same way (chain abort), so the client's await reports it typed.
#include <fmt/format.h>

#include <array>
#include <cstring>

#include "cluster/data_connection.hpp"
#include "cluster/hidden_f16.hpp"
#include "cluster/peer_copy.hpp"
#include "core/log.hpp"
#include "kernels/reference/token_sampling.hpp"

namespace crossgpu::cluster {
namespace {

// How long an await waits on the node before it answers "not yet" (Errc::timeout): the client
// then checks that every node of the chain is still alive and asks again.
constexpr std::chrono::milliseconds kAwaitPatience{500};

std::uint32_t position_of(const DataFrame& request) { return static_cast<std::uint32_t>(request.offset); }

}  // namespace

void DataConnection::serve_chain_step(const DataFrame& request) {
  std::shared_ptr<Session> session;
  std::shared_ptr<StageChain> chain;
  try {
    session = this->session();
    chain = session->chain(request.handle);
    if (request.length != chain->stage().input_wire_bytes()) {
      fail(Errc::out_of_range, "data chain step: {} bytes for chain {}, whose input is {}", request.length,
           request.handle, chain->stage().input_wire_bytes());
    }
  } catch (const Error& e) {
    discard(request.length);
    reply_error(request, e);
    return;
  }
  std::vector<std::byte> input(request.length);
  if (!socket_->read_exact(input)) fail(Errc::io, "data channel: the peer closed inside a chain step");
  reply(request);
  chain_steps_.fetch_add(1, std::memory_order_relaxed);
  continue_chain({std::move(session), std::move(chain)}, position_of(request), input);
}

std::optional<DataConnection::GrantedChain> DataConnection::read_granted_chain(const DataFrame& request,
                                                                               std::uint64_t& rest) {
  std::array<std::byte, kGrantLengthBytes> prefix{};
  if (!socket_->read_exact(prefix)) fail(Errc::io, "data channel: the peer closed inside a chain request");
  std::size_t grant_bytes = 0;
  try {
    grant_bytes = decode_grant_length(prefix, request);
  } catch (const Error& e) {
    discard(request.length - kGrantLengthBytes);
    reply_error(request, e);
    return std::nullopt;
  }
  std::vector<std::byte> serialized(grant_bytes);
  if (!socket_->read_exact(serialized)) fail(Errc::io, "data channel: the peer closed inside a chain grant");
  rest = request.length - kGrantLengthBytes - grant_bytes;
  try {
    const v1::WriteGrant grant = parse_grant(serialized, "data chain request");
    grants_.verify(grant, peer_.node_id);  // ours, unaltered, unexpired, made out to the sender
    GrantedChain granted;
    granted.owner = sessions_.owner_of_handle(grant.handle());
    if (!granted.owner) fail(Errc::not_found, "data chain request: the granted buffer was freed");
    granted.chain = granted.owner->chain(request.handle);
    // The grant is the client's consent: it names this chain's input, nothing else.
    if (grant.handle() != granted.chain->stage().input_handle || grant.offset() != 0 ||
        grant.bytes() != granted.chain->stage().input_bytes) {
      fail(Errc::permission_denied, "data chain request: the grant is not for chain {}'s input", request.handle);
    }
    return granted;
  } catch (const Error& e) {
    discard(rest);
    reply_error(request, e);
    return std::nullopt;
  }
}

void DataConnection::serve_chain_forward(const DataFrame& request) {
  std::uint64_t bytes = 0;
  std::optional<GrantedChain> granted = read_granted_chain(request, bytes);
  if (!granted) return;
  if (bytes != granted->chain->stage().input_wire_bytes()) {
    discard(bytes);
    reply_error(request, Error(Errc::out_of_range, fmt::format("data chain forward: {} bytes for an input of {}",
                                                               bytes, granted->chain->stage().input_wire_bytes())));
    return;
  }
  std::vector<std::byte> input(bytes);
  if (!socket_->read_exact(input)) fail(Errc::io, "data channel: the peer closed inside a chain forward");
  reply(request);
  chain_steps_.fetch_add(1, std::memory_order_relaxed);
  continue_chain(std::move(*granted), position_of(request), input);
}

void DataConnection::serve_chain_abort(const DataFrame& request) {
  std::uint64_t bytes = 0;
  std::optional<GrantedChain> granted = read_granted_chain(request, bytes);
  if (!granted) return;
  std::string message(bytes, '\0');
  if (!socket_->read_exact(std::as_writable_bytes(std::span(message)))) {
    fail(Errc::io, "data channel: the peer closed inside a chain abort");
  }
  reply(request);
  pass_failure(std::move(*granted), Error(static_cast<Errc>(request.offset), message));
}

void DataConnection::serve_chain_await(const DataFrame& request) {
  try {
    std::shared_ptr<StageChain> chain = session()->chain(request.handle);
    const ChainStage& stage = chain->stage();
    // A 4-byte await of a longer f32 result (the logits) asks for its greedy token: the index of
    // its largest value, so the decode step's last message is 4 bytes, not the vocabulary's row.
    const bool token = request.length == sizeof(std::uint32_t) && !stage.output_f16 &&
                       stage.output_bytes > sizeof(std::uint32_t) && stage.output_bytes % sizeof(float) == 0;
    if (stage.next || (request.length != stage.output_wire_bytes() && !token)) {
      fail(Errc::out_of_range, "data chain await: chain {} does not end here with {} bytes", request.handle,
           request.length);
    }
    std::optional<std::vector<std::byte>> result = chain->await(position_of(request), kAwaitPatience);
    if (!result) {
      fail(Errc::timeout, "data chain await: the step at position {} has not reached the end yet",
           position_of(request));
    }
    if (token) {
      const std::uint32_t best = largest_value_index(*result);
      result->assign(reinterpret_cast<const std::byte*>(&best), reinterpret_cast<const std::byte*>(&best + 1));
    }
    const DataFrame frame{DataOp::reply, 0, request.request_id, request.handle, request.offset, result->size()};
    socket_->write_all(encode_frame(frame), *result);
  } catch (const Error& e) {
    reply_error(request, e);
  }
}

void DataConnection::serve_chain_sample(const DataFrame& request) {
  std::array<std::byte, kChainSamplingBytes> payload{};
  if (!socket_->read_exact(payload)) fail(Errc::io, "data channel: the peer closed inside a chain sample");
  try {
    const ChainSampling sampling = decode_chain_sampling(payload);
    std::shared_ptr<StageChain> chain = session()->chain(request.handle);
    const ChainStage& stage = chain->stage();
    if (stage.next || stage.output_f16 || stage.output_bytes <= sizeof(std::uint32_t) ||
        stage.output_bytes % sizeof(float) != 0) {
      fail(Errc::out_of_range, "data chain sample: chain {} does not end here with a row of f32 logits",
           request.handle);
    }
    std::optional<std::vector<std::byte>> result = chain->await(position_of(request), kAwaitPatience);
    if (!result) {
      fail(Errc::timeout, "data chain sample: the step at position {} has not reached the end yet",
           position_of(request));
    }
    (void)largest_value_index(*result);  // an all-NaN row is refused, as the client's argmax does
    std::vector<float> logits(result->size() / sizeof(float));
    std::memcpy(logits.data(), result->data(), result->size());
    const std::uint32_t token = reference::sample_token(
        logits, {.temperature = sampling.temperature, .top_k = sampling.top_k, .top_p = sampling.top_p}, sampling.u);
    const DataFrame frame{DataOp::reply, 0, request.request_id, request.handle, request.offset, sizeof(token)};
    socket_->write_all(encode_frame(frame), std::as_bytes(std::span(&token, 1)));
  } catch (const Error& e) {
    reply_error(request, e);
  }
}

// The step holds its chain and session only while it runs: the hop to the next node (or a
// failure passed on) may wait for a silent node up to that link's heartbeat timeout, and a
// client that releases the chain or frees its buffers meanwhile (a recovery, which places new
// stages here at once) must get the memory back then, not when the hop gives up.
void DataConnection::continue_chain(GrantedChain step, std::uint32_t position,
                                    std::span<const std::byte> input) noexcept {
  std::vector<std::byte> output;
  try {
    output = step.chain->run(*step.owner, position, input);
  } catch (const Error& e) {
    pass_failure(std::move(step), Error(e.code(), fmt::format("node {}: {}", grants_.issuer(), e.what())));
    return;
  } catch (const std::exception& e) {
    pass_failure(std::move(step), Error(Errc::internal, fmt::format("node {}: {}", grants_.issuer(), e.what())));
    return;
  }
  if (!step.chain->stage().next) {
    step.chain->deliver(position, std::move(output));
    return;
  }
  const ChainHop next = *step.chain->stage().next;
  step = {};
  try {
    const std::string address = peer_links_.resolve(next.node_id);
    if (address.empty()) fail(Errc::permission_denied, "{}", kNotAMember);
    peer_links_.get(address, next.node_id)->chain_forward(next.grant, next.chain, position, output);
  } catch (const std::exception& e) {
    // The next node is unreachable or refused: the client's await notices the lost node (its
    // heartbeats) or its own deadline; nothing here can reach the end of the chain.
    log::warn("decode chain: passing position {} on to node {} failed: {}", position, next.node_id, e.what());
  }
}

void DataConnection::pass_failure(GrantedChain step, const Error& error) noexcept {
  if (!step.chain->stage().next) {
    step.chain->deliver_failure(error);
    return;
  }
  const ChainHop next = *step.chain->stage().next;
  step = {};
  try {
    const std::string address = peer_links_.resolve(next.node_id);
    if (address.empty()) fail(Errc::permission_denied, "{}", kNotAMember);
    peer_links_.get(address, next.node_id)->chain_abort(next.grant, next.chain, error.code(), error.what());
  } catch (const std::exception& e) {
    log::warn("decode chain: passing a failure ({}) on to node {} failed: {}", error.what(), next.node_id,
              e.what());
  }
}

}  // namespace crossgpu::cluster
