#include "model/pipeline.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "model/sampler.hpp"

namespace crossgpu::model {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void check_stages(const LlamaConfig& config, const std::vector<std::unique_ptr<LlamaStage>>& stages) {
  if (stages.empty()) fail(Errc::invalid_argument, "a pipeline needs at least one stage");
  std::uint32_t next = 0;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const StageRange& r = stages[i]->range();
    if (r.first_layer != next) {
      fail(Errc::invalid_argument, "stage {} starts at layer {}, expected {}", i, r.first_layer, next);
    }
    if (r.embeds != (i == 0) || r.outputs != (i + 1 == stages.size())) {
      fail(Errc::invalid_argument, "only the first stage may embed and only the last may output");
    }
    next = r.end_layer;
  }
  if (next != config.layers) fail(Errc::invalid_argument, "the stages cover {} of {} layers", next, config.layers);
}

}  // namespace

Pipeline::Pipeline(const LlamaConfig& config, std::vector<std::unique_ptr<LlamaStage>> stages,
                   ActivationMover mover)
    : config_(config), stages_(std::move(stages)), mover_(std::move(mover)) {
  check_stages(config_, stages_);
  if (!mover_) {
    mover_ = [](BufferRef src, BufferRef dst, std::uint64_t bytes) { copy_between_devices(src, 0, dst, 0, bytes); };
  }
  stats_.resize(stages_.size());
  logits_.resize(std::size_t{max_sequences()} * config_.vocab);
}

std::uint32_t Pipeline::max_batch() const noexcept {
  std::uint32_t batch = stages_.front()->options().max_batch;
  for (const auto& s : stages_) batch = std::min(batch, s->options().max_batch);
  return batch;
}

std::uint32_t Pipeline::context() const noexcept {
  std::uint32_t context = stages_.front()->options().context;
  for (const auto& s : stages_) context = std::min(context, s->options().context);
  return context;
}

std::uint32_t Pipeline::max_sequences() const noexcept {
  std::uint32_t sequences = stages_.front()->max_sequences();
  for (const auto& s : stages_) sequences = std::min(sequences, s->max_sequences());
  return sequences;
}

bool Pipeline::batched_decode_pays() const noexcept {
  return std::none_of(stages_.begin(), stages_.end(), [](const auto& s) {
    const DeviceProperties& p = s->device().properties();
    return p.backend == Backend::vulkan && p.type == DeviceType::cpu;
  });
}

void Pipeline::reset_stats() { std::fill(stats_.begin(), stats_.end(), StageStats{}); }

std::span<const float> Pipeline::forward(std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot) {
  if (ids.empty() || ids.size() > max_batch()) {
    fail(Errc::invalid_argument, "a forward pass takes 1 to {} tokens, not {}", max_batch(), ids.size());
  }
  const SequenceRows part{.slot = slot, .pos = pos, .tokens = static_cast<std::uint32_t>(ids.size())};
  return forward_rows(ids, std::span(&part, 1));
}

std::uint32_t Pipeline::forward_greedy(std::uint32_t token, std::uint32_t pos, std::uint32_t slot) {
  std::uint32_t next = 0;
  if (chain_ && token < config_.vocab && slot < max_sequences() &&
      chain_->step_token(*this, token, pos, slot, next, stats_)) {
    return next;
  }
  return argmax(forward(std::span(&token, 1), pos, slot));
}

std::uint32_t Pipeline::forward_sampled(std::uint32_t token, std::uint32_t pos, std::uint32_t slot, Sampler& sampler) {
  if (sampler.options().temperature == 0.0f) return forward_greedy(token, pos, slot);
  const double u = sampler.draw();  // drawn once, whichever way the token is sampled
  std::uint32_t next = 0;
  if (chain_ && token < config_.vocab && slot < max_sequences() &&
      chain_->step_sample(*this, token, pos, slot, sampler.options(), u, next, stats_)) {
    return next;
  }
  return Sampler::pick(forward(std::span(&token, 1), pos, slot), sampler.options(), u);
}

std::span<const float> Pipeline::forward_prompt(std::span<const std::uint32_t> ids, std::uint32_t pos,
                                               std::uint32_t slot) {
  // Whatever the runner should not see (out of the vocabulary, past the context) forward() refuses.
  const bool valid = std::all_of(ids.begin(), ids.end(), [&](std::uint32_t id) { return id < config_.vocab; });
  if (!prefill_runner_ || ids.empty() || !valid || slot >= max_sequences() || pos > context() ||
      ids.size() > context() - pos) {
    return {};
  }
  const std::span<float> out(logits_.data(), config_.vocab);
  return prefill_runner_->prefill(*this, ids, pos, slot, out, stats_) ? out : std::span<const float>{};
}

std::span<const float> Pipeline::forward_rows(std::span<const std::uint32_t> ids, std::span<const SequenceRows> parts) {
  std::uint64_t rows = 0;
  for (const SequenceRows& p : parts) rows += p.tokens;
  if (ids.empty() || ids.size() > max_batch() || rows != ids.size()) {
    fail(Errc::invalid_argument, "a forward pass takes 1 to {} tokens, one per row of its sequences ({}), not {}",
         max_batch(), rows, ids.size());
  }
  if (parts.size() > max_sequences()) {
    fail(Errc::invalid_argument, "a forward pass takes at most {} sequences, not {}", max_sequences(), parts.size());
  }
  for (std::uint32_t id : ids) {
    if (id >= config_.vocab) fail(Errc::out_of_range, "token id {} is outside the vocabulary of {}", id, config_.vocab);
  }
  const auto tokens = static_cast<std::uint32_t>(ids.size());
  const bool single_token = parts.size() == 1 && tokens == 1;
  const std::span<float> out(logits_.data(), parts.size() * config_.vocab);
  if (single_token && chain_ && chain_->step(*this, ids[0], parts[0].pos, parts[0].slot, out, stats_)) return out;
  LlamaStage& first = *stages_.front();
  first.device().stream().upload(first.token_ids(), 0, std::as_bytes(ids));
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    auto start = std::chrono::steady_clock::now();
    // One token of one sequence replays the slot's recorded decode program.
    (single_token ? stages_[i]->forward(1, parts[0].pos, parts[0].slot) : stages_[i]->forward_rows(parts)).wait();
    if (i + 1 == stages_.size()) {
      // The logits' download waits for the last stage: on a remote device the stage's work and
      // the download travel as one request.
      LlamaStage& last = *stages_.back();
      last.device().stream().download(last.logits(), 0, std::as_writable_bytes(out)).wait();
      stats_[i].seconds += seconds_since(start);
      ++stats_[i].passes;
      if (single_token && chain_) chain_->stepped(*this, parts[0].pos, parts[0].slot, stats_);
      break;
    }
    // No synchronize here: a local stage's event has waited for its work, and a remote stage's
    // work travels in one request with the read of its output that the move starts (so on a
    // remote stage the move's time includes the stage's compute).
    stats_[i].seconds += seconds_since(start);
    ++stats_[i].passes;
    start = std::chrono::steady_clock::now();
    const std::uint64_t bytes = std::uint64_t{tokens} * config_.embedding * sizeof(float);
    mover_(stages_[i]->hidden(), stages_[i + 1]->hidden(), bytes);
    stats_[i].transfer_seconds += seconds_since(start);
    stats_[i].bytes_out += bytes;
  }
  return out;
}

}  // namespace crossgpu::model
