// Node service: decode chains (docs/PROTOCOL.md, "Decode chains"). SetupChain checks a stage's
// step against the caller's session once (buffers, program, one device) and, when the result goes
// on to another node, that the next hop is a member this node watches and the grant is made out
// to this node by that member for exactly the result's bytes. Per token nothing but the step's
// bytes travels (the data channel's chain requests, data_connection_chain.cpp).
#include "cluster/node_service_support.hpp"
#include "cluster/peer_copy.hpp"
#include "cluster/stage_chain.hpp"
#include "core/log.hpp"

namespace crossgpu::cluster {
namespace {

void check_chain_bytes(std::uint64_t bytes, const char* what) {
  if (bytes == 0 || bytes > kMaxChainBytes) {
    fail(Errc::out_of_range, "SetupChain: {} of {} bytes; a chain moves 1..{}", what, bytes, kMaxChainBytes);
  }
}

// The next hop, checked before any step can use it: the same answer for every refusal that would
// tell the caller which nodes exist (as PeerCopy).
ChainHop next_hop(const v1::ChainSetupRequest& request, std::uint64_t output_bytes, const std::string& this_node,
                  const PeerLinks& links, const std::string& requester) {
  const v1::WriteGrant& grant = request.next_grant();
  if (request.next_node_id().size() > kMaxPeerNodeIdBytes || request.next_chain() == 0) {
    fail(Errc::invalid_argument, "SetupChain: the next hop needs a node id (at most {} bytes) and a chain",
         kMaxPeerNodeIdBytes);
  }
  if (grant.offset() != 0 || grant.bytes() != output_bytes) {
    fail(Errc::out_of_range, "SetupChain: the next hop's grant covers [{}, +{}), the result is [0, +{})",
         grant.offset(), grant.bytes(), output_bytes);
  }
  std::string problem;
  if (grant.grantee_node_id() != this_node) problem = "the grant is made out to another node";
  if (grant.issuer_node_id() != request.next_node_id()) problem = "the grant was issued by another node";
  if (problem.empty() && links.resolve(request.next_node_id()).empty()) problem = "the next node is no member this node watches";
  if (!problem.empty()) {
    log::warn("refused a decode chain asked by {}: {} (next '{}')", requester, problem,
              request.next_node_id().substr(0, kMaxPeerNodeIdBytes));
    fail(Errc::permission_denied, "{}", kNotAMember);
  }
  return ChainHop{request.next_node_id(), request.next_chain(), grant};
}

}  // namespace

grpc::Status NodeService::SetupChain(grpc::ServerContext* context, const v1::ChainSetupRequest* request,
                                     v1::ChainSetupResponse* response) {
  return serve(context, net::Role::compute, "SetupChain", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    check_chain_bytes(request->input_bytes(), "an input");
    check_chain_bytes(request->output_bytes(), "an output");
    ChainStage stage;
    stage.position = session->resolve(request->position_handle(), 0, sizeof(std::uint32_t), "SetupChain position");
    stage.input = session->resolve(request->input_handle(), 0, request->input_bytes(), "SetupChain input");
    stage.input_handle = request->input_handle();
    stage.input_bytes = request->input_bytes();
    stage.output = session->resolve(request->output_handle(), 0, request->output_bytes(), "SetupChain output");
    stage.output_bytes = request->output_bytes();
    stage.program = session->program(request->program());
    stage.input_f16 = request->input_f16();
    stage.output_f16 = request->output_f16();
    if ((stage.input_f16 && stage.input_bytes % sizeof(float) != 0) ||
        (stage.output_f16 && stage.output_bytes % sizeof(float) != 0)) {
      fail(Errc::invalid_argument, "SetupChain: an f16 input or output must be a whole number of f32 values");
    }
    for (const SessionBuffer* b : {&stage.position, &stage.input, &stage.output}) {
      if (b->device != stage.program->device) {
        fail(Errc::wrong_device, "SetupChain: the chain's buffers and program lie on different devices");
      }
    }
    if (!request->next_node_id().empty() || request->next_chain() != 0 || request->has_next_grant()) {
      stage.next = next_hop(*request, stage.output_bytes, grants_.issuer(), peer_links_, peer.node_id);
    }
    response->set_chain(session->add_chain(std::make_shared<StageChain>(std::move(stage))));
  });
}

grpc::Status NodeService::ReleaseChain(grpc::ServerContext* context, const v1::ReleaseChainRequest* request,
                                       v1::ReleaseChainResponse*) {
  return serve(context, net::Role::compute, "ReleaseChain", [&](const net::PeerIdentity& peer) {
    session_of(*context, peer)->release_chain(request->chain());
  });
}

}  // namespace crossgpu::cluster
