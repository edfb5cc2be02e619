// NodeConnection: decode chains (docs/PROTOCOL.md, "Decode chains"). Setup and release are gRPC
// calls; the per-token requests go on the data channel, which a chain needs (no gRPC fallback:
// the runtime relays through the client where a node does not offer "data-chain").
#include "cluster/node_connection_impl.hpp"

namespace crossgpu::cluster {

using Call = NodeConnection::Impl::Call;

namespace {

void require_chains(const NodeConnection& node, std::string_view what) {
  if (!node.offers_chains()) {
    fail(Errc::unsupported, "{}: node {} at {} serves no decode chains on a data channel", what, node.node_id(),
         node.address());
  }
}

}  // namespace

bool NodeConnection::offers_chains() const noexcept { return impl_->data_offers("data-chain"); }
bool NodeConnection::offers_chain_f16() const noexcept { return impl_->data_offers("data-chain-f16"); }
bool NodeConnection::offers_chain_token() const noexcept { return impl_->data_offers("data-chain-token"); }
bool NodeConnection::offers_chain_sample() const noexcept { return impl_->data_offers("data-chain-sample"); }

std::uint64_t NodeConnection::setup_chain(const ChainSetup& setup) {
  impl_->send_batch();
  v1::ChainSetupRequest request;
  request.set_position_handle(setup.position_handle);
  request.set_input_handle(setup.input_handle);
  request.set_input_bytes(setup.input_bytes);
  request.set_program(setup.program);
  request.set_output_handle(setup.output_handle);
  request.set_output_bytes(setup.output_bytes);
  request.set_next_node_id(setup.next_node_id);
  request.set_next_chain(setup.next_chain);
  if (setup.next_grant != nullptr) *request.mutable_next_grant() = *setup.next_grant;
  if ((setup.input_f16 || setup.output_f16) && !offers_chain_f16()) {
    fail(Errc::unsupported, "SetupChain: node {} at {} takes no f16 hidden states", impl_->hello.node_id(),
         impl_->address);
  }
  request.set_input_f16(setup.input_f16);
  request.set_output_f16(setup.output_f16);
  Call call(*impl_, true);
  v1::ChainSetupResponse response;
  call.check(impl_->stub->SetupChain(&call.context, request, &response), "SetupChain");
  if (response.chain() == 0) fail(Errc::io, "SetupChain on node {}: the reply names no chain", impl_->address);
  return response.chain();
}

void NodeConnection::release_chain(std::uint64_t chain) {
  impl_->send_batch();
  Call call(*impl_, true);
  v1::ReleaseChainRequest request;
  request.set_chain(chain);
  v1::ReleaseChainResponse response;
  call.check(impl_->stub->ReleaseChain(&call.context, request, &response), "ReleaseChain");
}

void NodeConnection::chain_step(std::uint64_t chain, std::uint32_t position, std::span<const std::byte> input) {
  impl_->send_batch();
  require_chains(*this, "chain step");
  impl_->data_call("chain step",
                   [&] { impl_->data->chain_request(DataOp::chain_step, {}, chain, position, input); });
}

bool NodeConnection::chain_await(std::uint64_t chain, std::uint32_t position, std::span<std::byte> out,
                                 const std::function<void()>& meanwhile) {
  impl_->send_batch();
  require_chains(*this, "chain await");
  bool arrived = false;
  impl_->data_call("chain await", [&] { arrived = impl_->data->chain_await(chain, position, out, meanwhile); });
  return arrived;
}

bool NodeConnection::chain_await(std::uint64_t chain, std::uint32_t position, std::span<std::byte> out,
                                 const std::function<void()>& meanwhile, const ChainSampling& sampling) {
  impl_->send_batch();
  require_chains(*this, "chain sample");
  if (!offers_chain_sample()) {
    fail(Errc::unsupported, "chain sample: node {} at {} does not sample tokens", node_id(), address());
  }
  const auto payload = encode_chain_sampling(sampling);
  bool arrived = false;
  impl_->data_call("chain sample",
                   [&] { arrived = impl_->data->chain_await(chain, position, out, meanwhile, payload); });
  return arrived;
}

void NodeConnection::chain_forward(const v1::WriteGrant& grant, std::uint64_t chain, std::uint32_t position,
                                   std::span<const std::byte> input) {
  require_chains(*this, "chain forward");
  const std::string serialized = grant.SerializeAsString();
  impl_->data_call("chain forward", [&] {
    impl_->data->chain_request(DataOp::chain_forward, std::as_bytes(std::span(serialized)), chain, position, input);
  });
}

void NodeConnection::chain_abort(const v1::WriteGrant& grant, std::uint64_t chain, Errc code,
                                 std::string_view message) {
  require_chains(*this, "chain abort");
  const std::string serialized = grant.SerializeAsString();
  const std::string_view text = message.empty() ? std::string_view("failed") : message;
  impl_->data_call("chain abort", [&] {
    impl_->data->chain_request(DataOp::chain_abort, std::as_bytes(std::span(serialized)), chain,
                               static_cast<std::uint64_t>(code),
                               std::as_bytes(std::span(text.substr(0, kMaxDataErrorBytes))));
  });
}

}  // namespace crossgpu::cluster
