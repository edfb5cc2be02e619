#include "runtime/decode_chain.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/sampler.hpp"
#include "runtime/env_switch.hpp"
#include "runtime/stage_transport.hpp"
#if CROSSGPU_WITH_NETWORK
#include "cluster/hidden_f16.hpp"
#include "cluster/remote_device.hpp"
#include "crossgpu/v1/node.pb.h"
#endif

namespace crossgpu::runtime {
namespace {

using Clock = std::chrono::steady_clock;

#if CROSSGPU_WITH_NETWORK
cluster::RemoteDevice* remote_of(const model::LlamaStage& stage) {
  return dynamic_cast<cluster::RemoteDevice*>(&stage.device());
}

// Stages [first, end): consecutive remote stages, each on a node no other stage of the pipeline
// uses (a connection's last Run is then its stage's), all serving chains; at least two (one
// remote stage gains nothing: its Run is already one round trip).
struct Segment {
  std::size_t first = 0, end = 0;
  bool f16 = false;     // hidden states cross its hops (and the client's) as f16
  bool token = false;   // it ends the pipeline on a node that can answer the greedy token
  bool sample = false;  // ... and one that can sample it with the client's draw
};

std::vector<Segment> find_segments(const model::Pipeline& pipeline) {
  const auto& stages = pipeline.stages();
  std::map<const cluster::NodeConnection*, int> uses;
  for (const auto& s : stages) {
    if (auto* r = remote_of(*s)) ++uses[&r->node()];
  }
  const auto chainable = [&](std::size_t i) {
    auto* r = remote_of(*stages[i]);
    return r != nullptr && uses[&r->node()] == 1 && r->node().offers_chains();
  };
  std::vector<Segment> segments;
  for (std::size_t i = 0; i < stages.size();) {
    std::size_t end = i;
    while (end < stages.size() && chainable(end)) ++end;
    if (end - i >= 2) segments.push_back({i, end});
    i = end == i ? i + 1 : end;
  }
  return segments;
}

// One stage's step as its node saw it in the last Run: input written, position written, program
// replayed, output read. nullopt when the Run was something else (the first step of a slot
// also records its program; prefill runs op by op).
std::optional<cluster::ChainSetup> learn_stage(const model::Pipeline& pipeline, std::size_t i, std::uint32_t pos) {
  const model::LlamaStage& stage = *pipeline.stages()[i];
  const model::LlamaConfig& config = pipeline.config();
  cluster::RemoteDevice& remote = *remote_of(stage);
  const std::vector<cluster::SentCommand> run = remote.node().last_run();
  using Kind = cluster::SentCommand::Kind;
  if (run.size() != 4 || run[0].kind != Kind::write || run[1].kind != Kind::write || run[2].kind != Kind::replay ||
      run[3].kind != Kind::read) {
    return std::nullopt;
  }
  const bool first = i == 0, last = i + 1 == pipeline.stages().size();
  cluster::ChainSetup setup;
  setup.input_bytes = first ? sizeof(std::uint32_t) : std::uint64_t{config.embedding} * sizeof(float);
  setup.output_bytes = (last ? std::uint64_t{config.vocab} : std::uint64_t{config.embedding}) * sizeof(float);
  setup.input_handle = remote.remote_handle(first ? stage.token_ids() : stage.hidden(), 0, setup.input_bytes);
  setup.output_handle = remote.remote_handle(last ? stage.logits() : stage.hidden(), 0, setup.output_bytes);
  if (run[0].handle != setup.input_handle || run[0].offset != 0 || run[0].bytes != setup.input_bytes ||
      run[1].offset != 0 || run[1].bytes != sizeof(std::uint32_t) || run[1].first_word != pos ||
      run[3].handle != setup.output_handle || run[3].offset != 0 || run[3].bytes != setup.output_bytes) {
    return std::nullopt;
  }
  setup.position_handle = run[1].handle;
  setup.program = run[2].program;
  return setup;
}

// Wall time of the pipeline's passes so far (compute and transfers of every stage).
double total_seconds(std::span<const model::StageStats> stats) {
  double total = 0;
  for (const model::StageStats& s : stats) total += s.seconds + s.transfer_seconds;
  return total;
}

class NodeChain final : public model::DecodeChain {
 public:
  NodeChain(std::vector<Segment> segments, std::vector<cluster::RemoteDevice*> remotes, bool off,
            ChainOptions options)
      : segments_(std::move(segments)),
        remotes_(std::move(remotes)),
        options_(std::move(options)),
        off_(off || segments_.empty()) {}
  ~NodeChain() override {
    for (auto& [slot, chains] : slots_) release(chains);
  }

  bool step(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
            std::span<float> logits, std::span<model::StageStats> stats) override;
  void stepped(model::Pipeline& pipeline, std::uint32_t pos, std::uint32_t slot,
               std::span<model::StageStats> stats) override;
  bool step_token(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                  std::uint32_t& next, std::span<model::StageStats> stats) override;
  bool step_sample(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                   const model::SamplerOptions& sampling, double u, std::uint32_t& next,
                   std::span<model::StageStats> stats) override;

 private:
  // A slot's chains: per segment, the chain id on each of its stages' nodes.
  struct SlotChains {
    std::vector<std::vector<std::uint64_t>> ids;
    Clock::time_point made;
  };
  // Grants last 120 s on the node that issued them and the client reuses one for up to 60 s:
  // chains are set up again before their grants can expire.
  static constexpr std::chrono::seconds kRenewAfter{50};

  const Segment* segment_at(std::size_t i) const {
    for (const Segment& s : segments_) {
      if (s.first == i) return &s;
    }
    return nullptr;
  }
  cluster::NodeConnection& node(std::size_t i) const { return remotes_[i]->node(); }
  std::vector<std::uint64_t> set_up(const Segment& segment, std::vector<cluster::ChainSetup> setups);
  void release(const SlotChains& chains) noexcept;
  // The step through every stage, the chained segments node to node; Errc::timeout when a
  // segment's step did not come back in time (nothing to undo: the pipeline can run it again).
  // What a step gives back: the logits row, or (token set) only the next token: the greedy one,
  // or (sampling set) the one the draw `u` samples.
  struct Result {
    std::span<float> logits;
    std::uint32_t* token = nullptr;
    const model::SamplerOptions* sampling = nullptr;
    double u = 0;
  };
  bool chained_step(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                    Result result, std::span<model::StageStats> stats);
  void run_chained(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                   Result result, std::span<model::StageStats> stats, const SlotChains& chains);
  void run_segment(const Segment& segment, const std::vector<std::uint64_t>& ids, std::uint32_t pos,
                   std::span<const std::byte> input, std::span<std::byte> output,
                   const cluster::ChainSampling* sampling = nullptr);
  void give_up(const std::string& why);
  void hop_failed(const Error& failure);
  // How long a chained step may take before a hop counts as unreachable.
  double step_deadline_seconds() const;

  const std::vector<Segment> segments_;
  const std::vector<cluster::RemoteDevice*> remotes_;  // per stage; null for a local one
  const ChainOptions options_;
  bool off_;
  std::map<std::uint32_t, SlotChains> slots_;
  double slowest_step_ = 0;       // seconds, of the single-token steps seen (relayed or chained)
  double stats_at_step_ = 0;      // total_seconds() when the pipeline last asked for a step
};

void NodeChain::give_up(const std::string& why) {
  log::warn("decode chain: {}; hidden states go through this process (one request per remote stage per token)",
            why);
  off_ = true;
}

void NodeChain::hop_failed(const Error& failure) {
  if (options_.on_hop_failure) options_.on_hop_failure(failure);
  for (auto& [slot, chains] : slots_) release(chains);
  slots_.clear();
  log::warn("{}; this step and the later ones go through this process (one request per remote stage per token)",
            failure.what());
  off_ = true;
}

double NodeChain::step_deadline_seconds() const {
  return std::chrono::duration<double>(options_.hop_timeout).count() + 2 * slowest_step_;
}

std::vector<std::uint64_t> NodeChain::set_up(const Segment& segment, std::vector<cluster::ChainSetup> setups) {
  // From the last stage back: each setup names the next stage's chain and its node's grant.
  std::vector<std::uint64_t> ids(setups.size());
  for (std::size_t k = setups.size(); k-- > 0;) {
    const std::size_t i = segment.first + k;
    std::optional<v1::WriteGrant> grant;
    if (k + 1 < setups.size()) {
      cluster::NodeConnection& next = node(i + 1);
      grant = next.grant_write(setups[k + 1].input_handle, 0, setups[k + 1].input_bytes, node(i).node_id());
      setups[k].next_node_id = next.node_id();
      setups[k].next_chain = ids[k + 1];
      setups[k].next_grant = &*grant;
    }
    setups[k].input_f16 = segment.f16 && i != 0;  // the first stage's input is a token id
    setups[k].output_f16 = segment.f16 && i + 1 != remotes_.size();  // the logits stay f32
    ids[k] = node(i).setup_chain(setups[k]);
  }
  return ids;
}

void NodeChain::release(const SlotChains& chains) noexcept {
  for (std::size_t s = 0; s < chains.ids.size(); ++s) {
    for (std::size_t k = 0; k < chains.ids[s].size(); ++k) {
      cluster::NodeConnection& n = node(segments_[s].first + k);
      if (chains.ids[s][k] == 0 || n.lost() || n.closed()) continue;
      try {
        n.release_chain(chains.ids[s][k]);
      } catch (const Error& e) {
        log::debug("decode chain: releasing chain {} on {}: {}", chains.ids[s][k], n.address(), e.what());
      }
    }
  }
}

void NodeChain::stepped(model::Pipeline& pipeline, std::uint32_t pos, std::uint32_t slot,
                        std::span<model::StageStats> stats) {
  for (std::size_t i = 0; i < remotes_.size(); ++i) {
    if (remotes_[i] == nullptr) continue;
    stats[i].messages += 2;  // its Run: the request and the reply
    ++stats[i].message_steps;
  }
  // The pipeline asked step() first, then ran this step itself.
  slowest_step_ = std::max(slowest_step_, total_seconds(stats) - stats_at_step_);
  if (off_ || slots_.count(slot) != 0) return;
  SlotChains chains;
  std::vector<std::vector<cluster::ChainSetup>> learned;
  for (const Segment& segment : segments_) {
    std::vector<cluster::ChainSetup> setups;
    for (std::size_t i = segment.first; i < segment.end; ++i) {
      std::optional<cluster::ChainSetup> setup = learn_stage(pipeline, i, pos);
      if (!setup) return;  // not a plain recorded step (yet): try after the next one
      setups.push_back(*setup);
    }
    learned.push_back(std::move(setups));
  }
  try {
    for (std::size_t s = 0; s < segments_.size(); ++s) {
      chains.ids.push_back(set_up(segments_[s], std::move(learned[s])));
    }
  } catch (const Error& e) {
    release(chains);
    if (e.code() == Errc::device_lost) throw;
    give_up(fmt::format("a node refused its setup ({})", e.what()));
    return;
  }
  chains.made = Clock::now();
  slots_.emplace(slot, std::move(chains));
  log::debug("decode chain: slot {} chained over {} segment(s)", slot, segments_.size());
}

void NodeChain::run_segment(const Segment& segment, const std::vector<std::uint64_t>& ids, std::uint32_t pos,
                            std::span<const std::byte> input, std::span<std::byte> output,
                            const cluster::ChainSampling* sampling) {
  cluster::NodeConnection& first = node(segment.first);
  cluster::NodeConnection& last = node(segment.end - 1);
  const auto start = Clock::now();
  bool sent = false;
  // The await goes out first, so the result never waits for it; the step follows at once.
  const auto send_step = [&] {
    if (sent) return;
    sent = true;
    first.chain_step(ids.front(), pos, input);
  };
  const auto arrived = [&] {
    return sampling != nullptr ? last.chain_await(ids.back(), pos, output, send_step, *sampling)
                               : last.chain_await(ids.back(), pos, output, send_step);
  };
  while (!arrived()) {
    // Not there yet (the node answers every 0.5 s): a lost node in the middle never passes it on.
    for (std::size_t i = segment.first; i < segment.end; ++i) {
      if (node(i).lost()) {
        fail(Errc::device_lost, "decode chain: node {} at {} was lost during the step at position {}",
             node(i).node_id(), node(i).address(), pos);
      }
    }
    // Every node still answers this process, yet the step does not come back: a node cannot
    // reach the next one (it only logs that), or their link stopped answering.
    if (seconds_since(start) > step_deadline_seconds()) {
      std::string path;
      for (std::size_t i = segment.first; i < segment.end; ++i) {
        path += fmt::format("{}{} ({})", i == segment.first ? "" : " -> ", node(i).node_id(), node(i).address());
      }
      fail(Errc::timeout,
           "decode chain: the step at position {} did not come back within {:.1f} s over {}, though every node "
           "answers its heartbeats: a hop between two of them is unreachable or stopped answering",
           pos, step_deadline_seconds(), path);
    }
  }
  slowest_step_ = std::max(slowest_step_, seconds_since(start));
}

bool NodeChain::step(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                     std::span<float> logits, std::span<model::StageStats> stats) {
  return chained_step(pipeline, token, pos, slot, Result{logits, nullptr}, stats);
}

bool NodeChain::step_token(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                           std::uint32_t& next, std::span<model::StageStats> stats) {
  return chained_step(pipeline, token, pos, slot, Result{{}, &next}, stats);
}

bool NodeChain::step_sample(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                            const model::SamplerOptions& sampling, double u, std::uint32_t& next,
                            std::span<model::StageStats> stats) {
  return chained_step(pipeline, token, pos, slot, Result{{}, &next, &sampling, u}, stats);
}

bool NodeChain::chained_step(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                             Result result, std::span<model::StageStats> stats) {
  stats_at_step_ = total_seconds(stats);
  if (off_) return false;
  auto found = slots_.find(slot);
  if (found == slots_.end()) return false;
  if (Clock::now() - found->second.made > kRenewAfter) {  // learned again from the next step
    release(found->second);
    slots_.erase(found);
    return false;
  }
  const std::vector<model::StageStats> stats_before(stats.begin(), stats.end());
  try {
    run_chained(pipeline, token, pos, slot, result, stats, found->second);
  } catch (const Error& e) {
    if (e.code() != Errc::timeout) throw;
    hop_failed(e);
    std::copy(stats_before.begin(), stats_before.end(), stats.begin());  // the pipeline runs the step again
    return false;
  }
  return true;
}

void NodeChain::run_chained(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                            Result result, std::span<model::StageStats> stats, const SlotChains& chains) {
  const auto& stages = pipeline.stages();
  const model::LlamaConfig& config = pipeline.config();
  const std::uint64_t hidden_bytes = std::uint64_t{config.embedding} * sizeof(float);
  std::vector<std::byte> host(sizeof(token));  // the hidden state while it is in this process
  std::memcpy(host.data(), &token, sizeof(token));
  std::optional<BufferRef> on_device;  // else where it is
  bool picked = false;                 // the last node answered the greedy token
  std::size_t segment_index = 0;
  for (std::size_t i = 0; i < stages.size();) {
    const auto start = Clock::now();
    const bool last = i + 1 == stages.size();
    if (const Segment* segment = segment_at(i)) {
      if (on_device) {
        host.resize(hidden_bytes);
        on_device->device->stream().download(*on_device, 0, std::span(host)).wait();
        on_device.reset();
      }
      const bool ends = segment->end == stages.size();
      const bool f16_in = segment->f16 && i != 0, f16_out = segment->f16 && !ends;
      // Only the next token wanted, and the last node can pick it (greedy) or sample it with the
      // draw: its 4 bytes come back.
      const bool token_back =
          ends && result.token != nullptr && (result.sampling != nullptr ? segment->sample : segment->token);
      std::optional<cluster::ChainSampling> sampling;
      if (token_back && result.sampling != nullptr) {
        sampling = cluster::ChainSampling{.temperature = result.sampling->temperature,
                                          .top_k = result.sampling->top_k,
                                          .top_p = result.sampling->top_p,
                                          .u = result.u};
      }
      if (f16_in) host = cluster::narrow_to_f16(host);
      std::vector<std::byte> out(token_back ? sizeof(std::uint32_t)
                                 : ends     ? std::uint64_t{config.vocab} * sizeof(float)
                                            : hidden_bytes / (f16_out ? 2 : 1));
      run_segment(*segment, chains.ids[segment_index++], pos, host, out, sampling ? &*sampling : nullptr);
      if (token_back) {
        picked = true;
        std::memcpy(result.token, out.data(), sizeof(std::uint32_t));
        if (*result.token >= config.vocab) {
          fail(Errc::io, "decode chain: node {} answered token {} of a vocabulary of {}", node(segment->end - 1).node_id(),
               *result.token, config.vocab);
        }
      }
      if (f16_out) {
        host.resize(hidden_bytes);
        cluster::widen_from_f16(out, host);
      } else {
        host = std::move(out);
      }
      const double each = seconds_since(start) / static_cast<double>(segment->end - segment->first);
      for (std::size_t k = segment->first; k < segment->end; ++k) {
        stats[k].seconds += each;
        ++stats[k].passes;
        ++stats[k].messages;  // the message that starts its step
        ++stats[k].message_steps;
        if (k + 1 < stages.size()) stats[k].bytes_out += hidden_bytes / (segment->f16 ? 2 : 1);
      }
      ++stats[segment->end - 1].messages;  // the result, to this process
      i = segment->end;
      continue;
    }
    model::LlamaStage& stage = *stages[i];
    if (i == 0) {
      stage.device().stream().upload(stage.token_ids(), 0, std::span<const std::byte>(host));
    } else if (on_device) {
      pipeline.mover()(*on_device, stage.hidden(), hidden_bytes);
    } else {
      stage.device().stream().upload(stage.hidden(), 0, std::span<const std::byte>(host));
    }
    stage.forward(1, pos, slot).wait();
    if (remotes_[i] != nullptr) {
      stats[i].messages += 2;
      ++stats[i].message_steps;
    }
    stats[i].seconds += seconds_since(start);
    ++stats[i].passes;
    if (!last) stats[i].bytes_out += hidden_bytes;
    on_device = last ? stage.logits() : stage.hidden();
    ++i;
  }
  if (picked) return;
  std::vector<float> own;  // the logits of a step that wants only the token
  if (result.token != nullptr) own.resize(config.vocab);
  const std::span<float> logits = result.token != nullptr ? std::span<float>(own) : result.logits;
  if (on_device) {
    on_device->device->stream().download(*on_device, 0, std::as_writable_bytes(logits)).wait();
  } else {
    std::memcpy(logits.data(), host.data(), logits.size_bytes());
  }
  if (result.token != nullptr) {
    *result.token = result.sampling != nullptr ? model::Sampler::pick(logits, *result.sampling, result.u)
                                               : model::argmax(logits);
  }
}
#endif

}  // namespace

std::shared_ptr<model::DecodeChain> node_chain_for(const model::Pipeline& pipeline, ChainOptions options) {
#if CROSSGPU_WITH_NETWORK
  std::vector<cluster::RemoteDevice*> remotes;
  bool any = false;
  for (const auto& stage : pipeline.stages()) {
    remotes.push_back(remote_of(*stage));
    any = any || remotes.back() != nullptr;
  }
  if (!any) return nullptr;
  std::vector<Segment> segments = find_segments(pipeline);
  const bool f16 = hidden_wire_of(pipeline.mover()) == HiddenWire::f16;
  for (Segment& s : segments) {
    s.f16 = f16;
    s.token = s.end == remotes.size() && remotes[s.end - 1]->node().offers_chain_token();
    s.sample = s.end == remotes.size() && remotes[s.end - 1]->node().offers_chain_sample();
  }
  if (f16) {
    const auto cannot_round = [&](const Segment& s) {
      for (std::size_t i = s.first; i < s.end; ++i) {
        if (!remotes[i]->node().offers_chain_f16()) return true;
      }
      return false;
    };
    const auto kept = std::remove_if(segments.begin(), segments.end(), cannot_round);
    if (kept != segments.end()) {
      log::info("decode chain: a node without data-chain-f16 cannot round hidden states to f16 on its hops; "
                "its stages' steps go through this process");
    }
    segments.erase(kept, segments.end());
  }
  const bool off = switched_off("CROSSGPU_NODE_CHAIN");
  if (segments.empty() || off) {
    log::info("decode chain: {}; each remote stage's step is a request from this process",
              off ? "turned off (CROSSGPU_NODE_CHAIN)" : "no two consecutive remote stages on distinct nodes serve one");
  }
  return std::make_shared<NodeChain>(std::move(segments), std::move(remotes), off, std::move(options));
#else
  (void)pipeline;
  (void)options;
  return nullptr;
#endif
}

}  // namespace crossgpu::runtime
