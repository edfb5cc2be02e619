#include "runtime/prefill_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "runtime/env_switch.hpp"
#include "runtime/stage_transport.hpp"
#if CROSSGPU_WITH_NETWORK
#include "cluster/remote_device.hpp"
#include "crossgpu/v1/node.pb.h"
#endif

namespace crossgpu::runtime {
namespace {

using Clock = std::chrono::steady_clock;

std::uint32_t micro_batch_tokens(const PrefillPipelineOptions& options, std::uint32_t max_batch) {
  std::uint32_t tokens = options.micro_batch;
  if (const char* value = std::getenv("CROSSGPU_PREFILL_MICRO_BATCH")) {
    const long wanted = std::strtol(value, nullptr, 10);
    if (wanted > 0) tokens = static_cast<std::uint32_t>(std::min<long>(wanted, 1 << 20));
  }
  return std::clamp<std::uint32_t>(tokens, 1, max_batch);
}

struct MicroBatch {
  std::uint32_t first = 0;  // index of its first token in the prompt's ids
  std::uint32_t tokens = 0;
};

std::vector<MicroBatch> cut(std::size_t tokens, std::uint32_t micro) {
  std::vector<MicroBatch> batches;
  for (std::uint32_t at = 0; at < tokens; at += micro) {
    batches.push_back({at, static_cast<std::uint32_t>(std::min<std::size_t>(micro, tokens - at))});
  }
  return batches;
}

// Where the stage threads are: stage k holds micro-batch i in its buffer from its arrival until
// its thread handed it on (or, at the last stage, finished it). The first failure stops all.
class Progress {
 public:
  explicit Progress(std::size_t stages) : arrived_(stages, 0), released_(stages, 0) {}

  // Until micro-batch i is in stage k's buffer; false when a stage failed.
  bool wait_arrived(std::size_t k, std::uint32_t i) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return failure_ || arrived_[k] > i; });
    return !failure_;
  }
  // Until stage k is done with micro-batch i - 1 (its buffer may take i); false on a failure.
  bool wait_free(std::size_t k, std::uint32_t i) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return failure_ || released_[k] >= i; });
    return !failure_;
  }
  // Stage k is done with micro-batch i; with `next`, i is now in stage k + 1's buffer.
  void release(std::size_t k, std::uint32_t i, bool next) {
    {
      std::lock_guard lock(mutex_);
      released_[k] = i + 1;
      if (next) arrived_[k + 1] = i + 1;
    }
    changed_.notify_all();
  }
  void fail(std::exception_ptr failure) {
    {
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = std::move(failure);
    }
    changed_.notify_all();
  }
  std::exception_ptr failure() {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::uint32_t> arrived_, released_;
  std::exception_ptr failure_;
};

#if CROSSGPU_WITH_NETWORK
cluster::RemoteDevice* remote_of(const model::LlamaStage& stage) {
  return dynamic_cast<cluster::RemoteDevice*>(&stage.device());
}

// Stage k's hidden states to stage k + 1's node: the grants node k + 1 gave node k for each
// micro-batch size (asked before the threads start, so no thread calls another stage's node).
struct Hop {
  cluster::RemoteDevice* from = nullptr;
  cluster::RemoteDevice* to = nullptr;
  std::map<std::uint64_t, v1::WriteGrant> grants;  // by bytes
  std::map<std::uint64_t, std::uint64_t> sources;  // the source handle, by bytes
};

// One prompt's pipelined prefill: a thread per stage.
class PromptRun {
 public:
  PromptRun(model::Pipeline& pipeline, std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot,
            std::span<float> logits, std::span<model::StageStats> stats, std::uint32_t micro)
      : pipeline_(pipeline),
        ids_(ids),
        pos_(pos),
        slot_(slot),
        logits_(logits),
        stats_(stats),
        batches_(cut(ids.size(), micro)),
        f16_(hidden_wire_of(pipeline.mover()) == HiddenWire::f16),
        progress_(pipeline.stages().size()) {}

  std::size_t micro_batches() const noexcept { return batches_.size(); }

  // Throws the first stage's failure.
  void operator()(PrefillPipelineCounts& counts) {
    ask_grants();
    const std::size_t stages = pipeline_.stages().size();
    std::vector<std::thread> threads;
    try {
      for (std::size_t k = 1; k < stages; ++k) threads.emplace_back([this, k] { run_stage(k); });
    } catch (...) {  // no thread for a stage: the started ones stop at their first wait
      progress_.fail(std::current_exception());
    }
    if (!progress_.failure()) run_stage(0);
    for (std::thread& t : threads) t.join();
    if (std::exception_ptr failure = progress_.failure()) std::rethrow_exception(failure);
    counts.hops += hops_;
    counts.hop_bytes += hop_bytes_;
  }

 private:
  std::uint64_t hidden_bytes(std::uint32_t tokens) const {
    return std::uint64_t{tokens} * pipeline_.config().embedding * sizeof(float);
  }

  void ask_grants() {
    const auto& stages = pipeline_.stages();
    std::set<std::uint32_t> sizes;
    for (const MicroBatch& b : batches_) sizes.insert(b.tokens);
    for (std::size_t k = 0; k + 1 < stages.size(); ++k) {
      Hop hop{remote_of(*stages[k]), remote_of(*stages[k + 1]), {}, {}};
      for (const std::uint32_t tokens : sizes) {
        const std::uint64_t bytes = hidden_bytes(tokens);
        const std::uint64_t dst = hop.to->remote_handle(stages[k + 1]->hidden(), 0, bytes);
        hop.sources[bytes] = hop.from->remote_handle(stages[k]->hidden(), 0, bytes);
        hop.grants[bytes] = hop.to->node().grant_write(dst, 0, bytes, hop.from->node().node_id());
      }
      hops_plan_.push_back(std::move(hop));
    }
  }

  void run_stage(std::size_t k) noexcept {
    try {
      for (std::uint32_t i = 0; i < batches_.size(); ++i) {
        if (k > 0 && !progress_.wait_arrived(k, i)) return;
        compute(k, i);
        const bool last = k + 1 == pipeline_.stages().size();
        if (!last) {
          if (!progress_.wait_free(k + 1, i)) return;
          hand_on(k, i);
        }
        progress_.release(k, i, !last);
      }
    } catch (...) {
      progress_.fail(std::current_exception());
    }
  }

  // Stage k's work on micro-batch i, sent and done (a remote stream's synchronize sends its Run,
  // which returns when the node ran it); the last stage's last micro-batch reads its logits.
  void compute(std::size_t k, std::uint32_t i) {
    model::LlamaStage& stage = *pipeline_.stages()[k];
    const MicroBatch& b = batches_[i];
    const auto start = Clock::now();
    if (k == 0) {
      stage.device().stream().upload(stage.token_ids(), 0, std::as_bytes(ids_.subspan(b.first, b.tokens)));
    }
    const model::SequenceRows part{.slot = slot_, .pos = pos_ + b.first, .tokens = b.tokens};
    stage.forward_rows(std::span(&part, 1));
    if (k + 1 == pipeline_.stages().size() && i + 1 == batches_.size()) {
      stage.device().stream().download(stage.logits(), 0, std::as_writable_bytes(logits_)).wait();
    } else {
      stage.device().stream().synchronize();
    }
    stats_[k].seconds += seconds_since(start);
    ++stats_[k].passes;
  }

  // Micro-batch i's hidden states from stage k's node to stage k + 1's, node to node.
  void hand_on(std::size_t k, std::uint32_t i) {
    const Hop& hop = hops_plan_[k];
    const std::uint64_t bytes = hidden_bytes(batches_[i].tokens);
    const auto start = Clock::now();
    const v1::WriteGrant& grant = hop.grants.at(bytes);
    const std::uint64_t source = hop.sources.at(bytes);
    cluster::NodeConnection& from = hop.from->node();
    const std::uint64_t copied = f16_ ? from.peer_copy_f16(source, 0, hop.to->node().address(), grant)
                                      : from.peer_copy(source, 0, hop.to->node().address(), grant);
    if (copied != bytes) fail(Errc::io, "pipelined prefill: {} of {} bytes reached the next stage", copied, bytes);
    stats_[k].transfer_seconds += seconds_since(start);
    stats_[k].bytes_out += bytes;
    std::lock_guard lock(counts_mutex_);
    ++hops_;
    hop_bytes_ += bytes;
  }

  model::Pipeline& pipeline_;
  std::span<const std::uint32_t> ids_;
  std::uint32_t pos_, slot_;
  std::span<float> logits_;
  std::span<model::StageStats> stats_;  // each thread adds to its own stage's only
  std::vector<MicroBatch> batches_;
  bool f16_;
  Progress progress_;
  std::vector<Hop> hops_plan_;
  std::mutex counts_mutex_;
  std::uint64_t hops_ = 0, hop_bytes_ = 0;
};

// Whether this process counts a stage's node as lost (its heartbeats or a call failed).
bool any_node_lost(const model::Pipeline& pipeline) {
  return std::any_of(pipeline.stages().begin(), pipeline.stages().end(), [](const auto& stage) {
    const cluster::RemoteDevice* remote = remote_of(*stage);
    return remote != nullptr && remote->node().lost();
  });
}
#endif

}  // namespace

bool PrefillPipeline::prefill(model::Pipeline& pipeline, std::span<const std::uint32_t> ids, std::uint32_t pos,
                              std::uint32_t slot, std::span<float> logits, std::span<model::StageStats> stats) {
#if CROSSGPU_WITH_NETWORK
  const std::uint32_t micro = micro_batch_tokens(options_, pipeline.max_batch());
  if (off_ || ids.size() <= micro || logits.size() != pipeline.config().vocab) return false;
  PromptRun run(pipeline, ids, pos, slot, logits, stats, micro);
  try {
    run(counts_);
  } catch (const Error& e) {
    // A lost node is the run's to recover from. Any other failure is a hop's (a node that is no
    // member of the next one, a link between two nodes that stopped answering while both still
    // answer this process): the prompt goes batch after batch through this process, as it did
    // before, and so do the later ones (the decode chain gives up on a hop the same way).
    if (any_node_lost(pipeline)) throw;
    log::warn("pipelined prefill: {}; prompts are prefilled batch after batch", e.what());
    off_ = true;
    ++counts_.declined;
    return false;
  }
  ++counts_.prompts;
  counts_.micro_batches += run.micro_batches();
  return true;
#else
  (void)pipeline, (void)ids, (void)pos, (void)slot, (void)logits, (void)stats, (void)micro_batch_tokens, (void)cut;
  return false;
#endif
}

std::shared_ptr<PrefillPipeline> prefill_pipeline_for(const model::Pipeline& pipeline,
                                                      PrefillPipelineOptions options) {
#if CROSSGPU_WITH_NETWORK
  const auto& stages = pipeline.stages();
  if (switched_off("CROSSGPU_PREFILL_PIPELINE") || stages.size() < 2) return nullptr;
  const bool f16 = hidden_wire_of(pipeline.mover()) == HiddenWire::f16;
  std::set<const cluster::NodeConnection*> nodes;
  for (std::size_t k = 0; k < stages.size(); ++k) {
    cluster::RemoteDevice* remote = remote_of(*stages[k]);
    if (remote == nullptr || !nodes.insert(&remote->node()).second) return nullptr;
    if (f16 && k + 1 < stages.size() && !remote->node().offers_peer_copy_f16()) {
      log::info("pipelined prefill: node {} cannot round its copies to f16; prompts are prefilled batch after batch",
                remote->node().node_id());
      return nullptr;
    }
  }
  return std::make_shared<PrefillPipeline>(options);
#else
  (void)pipeline;
  (void)options;
  return nullptr;
#endif
}

}  // namespace crossgpu::runtime
