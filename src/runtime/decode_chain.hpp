// Node-to-node decode chains (issue 14, docs/PROTOCOL.md "Decode chains"): consecutive remote
// stages of a pipeline run a single-token decode step as one chain. This process sends the token
// (or the hidden state) to the first stage's node, each node runs its stage and passes the
// hidden state straight to the next stage's node, and the last one answers this process's
// await: stage boundaries + 1 messages on a token's critical path, where relaying through this
// process costs a request and a reply per remote stage.
//
// A chain is learned from a step the pipeline ran itself (each remote stage's Run: its input,
// position, program and output) and set up once per sequence slot; every setup asks the next
// node for a write grant made out to the previous one, so a node passes a hidden state on only
// to a member it watches, into the one buffer the client allowed. Where a chain cannot apply
// (local stages, a lone remote stage, two stages on one node, a node without "data-chain", a
// refused setup) the steps relay through this process as before, and a log line says so.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "core/error.hpp"
#include "model/pipeline.hpp"

namespace crossgpu::runtime {

struct ChainOptions {
  // How long a chained step may stay away beyond the slowest step seen so far (twice it, so a
  // slow device is not mistaken for a dead hop) while every node of the chain still answers its
  // heartbeats. Past it, a hop between two nodes is taken as unreachable (a firewall between
  // them, a link that stopped answering): the step fails with Errc::timeout, the chains are
  // released and this step and every later one relay through this process. The default is a
  // connection's heartbeat timeout (cluster::ConnectionOptions, 3 s): the time after which a
  // silent node counts as lost.
  std::chrono::milliseconds hop_timeout{3000};
  // Told each such failure (typed, naming the nodes) before the step is relayed; a warning is
  // logged either way.
  std::function<void(const Error&)> on_hop_failure;
};

// The chain for `pipeline`'s stages; null when no stage is remote. CROSSGPU_NODE_CHAIN=off
// keeps every step relayed (the counts of messages per stage are still kept).
//
// Hidden states cross the chain's hops as the pipeline's mover gives them to the next stage
// (runtime::hidden_wire_of): with f16 boundaries, as f16 on the wire (half the bytes per hop;
// the sending node narrows, the receiving one widens, so the next stage gets exactly what a
// relayed step's rounding gives it); with f32 ones, as f32. Token ids in and logits out are
// exact either way. A segment with a node lacking "data-chain-f16" is not chained in an f16
// pipeline: its hops could not round, and its steps would compute other numbers than relayed ones.
std::shared_ptr<model::DecodeChain> node_chain_for(const model::Pipeline& pipeline, ChainOptions options = {});

}  // namespace crossgpu::runtime
