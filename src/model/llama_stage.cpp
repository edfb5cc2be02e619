#include "model/llama_stage.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/ops_attention.hpp"
#include "kernels/ops_weights.hpp"

namespace crossgpu::model {
namespace {

using kernels::WeightType;

WeightType weight_type_of(const TensorInfo& info) {
  const auto type = kernels::weight_type_from(info.type);
  if (!type) fail(Errc::unsupported, "tensor '{}' has a type ({}) the kernels do not read", info.name, info.type);
  return *type;
}

std::vector<std::string> stage_tensors(const LlamaConfig& config, const StageRange& range) {
  std::vector<std::string> names;
  if (range.embeds) names.emplace_back("token_embd.weight");
  for (std::uint32_t l = range.first_layer; l < range.end_layer; ++l) {
    for (const char* what : kLayerTensors) names.push_back(layer_tensor(l, what));
  }
  if (range.outputs) {
    names.emplace_back("output_norm.weight");
    // A tied head reads token_embd; the last stage needs its own copy unless it also embeds.
    if (!config.tied_output) names.emplace_back("output.weight");
    else if (!range.embeds) names.emplace_back("token_embd.weight");
  }
  return names;
}

}  // namespace

std::uint64_t stage_weight_bytes(const LlamaConfig& config, const GgufFile& file, const StageRange& range) {
  std::uint64_t bytes = 0;
  for (const std::string& name : stage_tensors(config, range)) bytes += file.tensor(name).bytes;
  return bytes;
}

LlamaStage::LlamaStage(const LlamaConfig& config, const GgufFile& file, std::shared_ptr<Device> device,
                       StageRange range, StageOptions options)
    : config_(config), device_(std::move(device)), range_(range), options_(std::move(options)) {
  if (range.first_layer > range.end_layer || range.end_layer > config.layers) {
    fail(Errc::invalid_argument, "stage layers [{}, {}) are not inside the model's {} layers",
         range.first_layer, range.end_layer, config.layers);
  }
  if (options_.max_batch == 0 || options_.context == 0 || options_.max_sequences == 0) {
    fail(Errc::invalid_argument, "a stage needs a batch, a context and a sequence slot of at least one");
  }
  stage_bytes_ = stage_weight_bytes(config, file, range);

  if (range.embeds) token_embd_ = load(file, "token_embd.weight");
  for (std::uint32_t l = range.first_layer; l < range.end_layer; ++l) {
    Layer layer;
    layer.attn_norm = load(file, layer_tensor(l, "attn_norm"));
    // Tensors that one fused dispatch reads share a buffer.
    const auto qkv = load(file, {layer_tensor(l, "attn_q"), layer_tensor(l, "attn_k"), layer_tensor(l, "attn_v")});
    layer.wq = qkv[0];
    layer.wk = qkv[1];
    layer.wv = qkv[2];
    layer.wo = load(file, layer_tensor(l, "attn_output"));
    layer.ffn_norm = load(file, layer_tensor(l, "ffn_norm"));
    const auto gate_up = load(file, {layer_tensor(l, "ffn_gate"), layer_tensor(l, "ffn_up")});
    layer.w_gate = gate_up[0];
    layer.w_up = gate_up[1];
    layer.w_down = load(file, layer_tensor(l, "ffn_down"));
    // A buffer per slot rather than one for all: each stays within one storage binding however
    // many slots there are, and a recorded decode program binds its slot's buffers directly.
    const std::uint64_t kv_floats = std::uint64_t{options_.context} * config.kv_heads * config.head_dim;
    for (std::uint32_t slot = 0; slot < options_.max_sequences; ++slot) {
      layer.k_cache.push_back(scratch(kv_floats));
      layer.v_cache.push_back(scratch(kv_floats));
      cache_bytes_ += 2 * kv_floats * sizeof(float);
    }
    layers_.push_back(std::move(layer));
  }
  if (range.outputs) {
    output_norm_ = load(file, "output_norm.weight");
    if (!config.tied_output) output_ = load(file, "output.weight");
    else if (!range.embeds) output_ = load(file, "token_embd.weight");
    logits_ = scratch(std::uint64_t{options_.max_sequences} * config.vocab);  // a row per sequence
  }

  const std::uint64_t batch = options_.max_batch, q_dim = std::uint64_t{config.heads} * config.head_dim;
  const std::uint64_t kv_dim = std::uint64_t{config.kv_heads} * config.head_dim;
  ids_ = device_->allocate(batch * sizeof(std::uint32_t));
  x_ = scratch(batch * config.embedding);
  xn_ = scratch(batch * config.embedding);
  proj_ = scratch(batch * config.embedding);
  q_ = scratch(batch * q_dim);
  k_ = scratch(batch * kv_dim);
  v_ = scratch(batch * kv_dim);
  attn_ = scratch(batch * q_dim);
  gate_ = scratch(batch * config.ffn);
  up_ = scratch(batch * config.ffn);

  fused_ = options_.recorded_decode;
  for (const Layer& layer : layers_) {
    fused_ = fused_ && fused_fits({&layer.wq, &layer.wk, &layer.wv}) && fused_fits({&layer.wo}) &&
             fused_fits({&layer.w_gate, &layer.w_up}) && fused_fits({&layer.w_down});
  }
  decode_programs_.resize(options_.max_sequences);
  if (fused_) {
    position_ = device_->allocate(sizeof(std::uint32_t));
    qkv_ = scratch(q_dim + 2 * kv_dim);
    const ops::AttentionShape one{.tokens = 1, .heads = config.heads, .kv_heads = config.kv_heads,
                                  .head_dim = config.head_dim};
    attention_scratch_ =
        device_->allocate(std::max<std::uint64_t>(4, ops::attention_at_scratch_bytes(one, options_.context - 1)));
  }
}

std::vector<DeviceTensor> LlamaStage::load(const GgufFile& file, const std::vector<std::string>& names) {
  // Offsets aligned beyond the kernels' 4 bytes, so that a tensor may start a binding.
  constexpr std::uint64_t kAlignment = 256;
  std::vector<DeviceTensor> tensors;
  std::vector<std::span<const std::byte>> data;
  std::uint64_t total = 0;
  for (const std::string& name : names) {
    const TensorInfo& info = file.tensor(name);
    DeviceTensor t;
    t.type = weight_type_of(info);
    t.cols = info.dims.at(0);
    t.rows = info.dims.size() > 1 ? info.dims[1] : 1;
    data.push_back(file.tensor_data(info));
    t.offset = total;
    t.bytes = data.back().size();
    // The kernels read weights as 32-bit words: a tensor of an odd size (Q6_K rows are 210
    // bytes) gets room rounded up to whole words, the tail never used.
    total = (total + t.bytes + kAlignment - 1) / kAlignment * kAlignment;
    tensors.push_back(t);
  }
  Buffer buffer = device_->allocate(std::max<std::uint64_t>(total, 4));
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    DeviceTensor& t = tensors[i];
    t.buffer = buffer.ref();
    WeightSource source = WeightSource::not_handled;
    if (options_.upload_weights) source = options_.upload_weights(*device_, t.buffer, t.offset, data[i]);
    if (source == WeightSource::not_handled) device_->stream().upload(t.buffer, t.offset, data[i]).wait();
    (source == WeightSource::cached ? cached_weight_bytes_ : sent_bytes_) += t.bytes;
    weight_bytes_ += t.bytes;
    // Cached tensors count as done: the bar shows how much of the stage is on the device.
    if (options_.on_progress) options_.on_progress(weight_bytes_, stage_bytes_);
  }
  weight_buffers_.push_back(std::move(buffer));
  return tensors;
}

DeviceTensor LlamaStage::load(const GgufFile& file, const std::string& name) {
  return load(file, std::vector<std::string>{name}).front();
}

Buffer LlamaStage::scratch(std::uint64_t floats) { return device_->allocate(floats * sizeof(float)); }

// Whether tensors sharing one buffer fit one binding of the device, as one fused matvec binds
// them.
bool LlamaStage::fused_fits(const std::vector<const DeviceTensor*>& tensors) const {
  const DeviceLimits& limits = device_->properties().limits;
  const std::uint64_t first = tensors.front()->offset;
  const std::uint64_t end = tensors.back()->offset + tensors.back()->bytes + 4;
  const std::uint64_t slack = std::max<std::uint64_t>(limits.min_storage_buffer_offset_alignment, 4);
  return end - first + slack <= limits.max_storage_buffer_range;
}

namespace {

// Whether `tokens` rows are projected as one matvec each rather than by the batched matmul. On
// a Vulkan device that is a CPU (lavapipe) the matmul shader, tiled for 64 tokens, is far slower
// than matvecs for a handful of rows (measured: a decode step of 2 sequences 24x slower than of
// one), so a small batch (a continuous-batching decode step) runs row by row there; elsewhere
// (the CPU device's matmul decodes each weight block once for all rows; GPUs) the matmul.
bool rows_by_matvec(const Device& device, std::uint32_t tokens) {
  constexpr std::uint32_t kMatvecRows = 16;
  const DeviceProperties& p = device.properties();
  return tokens == 1 || (tokens <= kMatvecRows && p.backend == Backend::vulkan && p.type == DeviceType::cpu);
}

}  // namespace

Event LlamaStage::project(const DeviceTensor& w, BufferRef in, ops::TensorRef out, std::uint32_t tokens) {
  Stream& s = device_->stream();
  if (!rows_by_matvec(*device_, tokens)) return ops::matmul_weights(s, w.ref(), in, out, w.rows, w.cols, tokens, w.type);
  Event last;
  const std::uint64_t in_row = w.cols * sizeof(float), out_row = w.rows * sizeof(float);
  for (std::uint32_t t = 0; t < tokens; ++t) {
    last = ops::matvec_weights(s, w.ref(), ops::TensorRef(in, t * in_row),
                               ops::TensorRef(out.buffer, out.byte_offset + t * out_row), w.rows, w.cols, w.type);
  }
  return last;
}

// RoPE at the part's own positions, its keys and values copied into its slot's cache there, and
// causal attention over that cache: the per-sequence middle of a layer whose projections ran
// for the whole batch.
void LlamaStage::part_attention(const Layer& layer, const SequenceRows& part, std::uint32_t row) {
  Stream& s = device_->stream();
  const LlamaConfig& c = config_;
  const std::uint64_t q_row = std::uint64_t{c.heads} * c.head_dim, kv_row = std::uint64_t{c.kv_heads} * c.head_dim;
  const ops::TensorRef q(q_, row * q_row * sizeof(float)), out(attn_, row * q_row * sizeof(float));
  const ops::TensorRef k(k_, row * kv_row * sizeof(float)), v(v_, row * kv_row * sizeof(float));
  const std::uint64_t cache_offset = std::uint64_t{part.pos} * kv_row * sizeof(float);
  const Buffer& k_cache = layer.k_cache[part.slot];
  const Buffer& v_cache = layer.v_cache[part.slot];
  ops::rope(s, q, part.tokens, c.heads, c.head_dim, part.pos, c.rope_base, ops::RopeMode::normal);
  ops::rope(s, k, part.tokens, c.kv_heads, c.head_dim, part.pos, c.rope_base, ops::RopeMode::normal);
  ops::copy(s, k, ops::TensorRef(k_cache, cache_offset), part.tokens * kv_row);
  ops::copy(s, v, ops::TensorRef(v_cache, cache_offset), part.tokens * kv_row);
  const ops::AttentionShape shape{.tokens = part.tokens, .heads = c.heads, .kv_heads = c.kv_heads,
                                  .head_dim = c.head_dim, .start_pos = part.pos};
  ops::attention(s, q, k_cache, v_cache, out, shape, 1.0f / std::sqrt(static_cast<float>(c.head_dim)));
}

Event LlamaStage::layer_forward(const Layer& layer, std::span<const SequenceRows> parts, std::uint32_t rows) {
  Stream& s = device_->stream();
  const LlamaConfig& c = config_;
  const std::uint64_t e = c.embedding;

  // Attention block: x += Wo * attention(rope(Wq xn), cache <- rope(Wk xn), Wv xn). The
  // projections read each weight once for every row of every sequence.
  ops::rms_norm(s, x_, layer.attn_norm.ref(), xn_, rows, e, c.rms_eps);
  project(layer.wq, xn_.ref(), q_, rows);
  project(layer.wk, xn_.ref(), k_, rows);
  project(layer.wv, xn_.ref(), v_, rows);
  std::uint32_t row = 0;
  for (const SequenceRows& part : parts) {
    part_attention(layer, part, row);
    row += part.tokens;
  }
  project(layer.wo, attn_.ref(), proj_, rows);
  ops::add(s, x_, proj_, x_, rows * e);

  // Feed-forward block (SwiGLU): x += W_down (silu(W_gate xn) * W_up xn).
  ops::rms_norm(s, x_, layer.ffn_norm.ref(), xn_, rows, e, c.rms_eps);
  project(layer.w_gate, xn_.ref(), gate_, rows);
  project(layer.w_up, xn_.ref(), up_, rows);
  const std::uint64_t f = std::uint64_t{rows} * c.ffn;
  ops::silu(s, gate_, gate_, f);
  ops::mul(s, gate_, up_, gate_, f);
  project(layer.w_down, gate_.ref(), proj_, rows);
  return ops::add(s, x_, proj_, x_, rows * e);
}

Event LlamaStage::head_forward(std::span<const SequenceRows> parts) {
  // Only each part's last token is sampled from: normalize those rows (gathered into xn_) and
  // project them together, one row of logits per part.
  Stream& s = device_->stream();
  const std::uint64_t e = config_.embedding, row_bytes = e * sizeof(float);
  std::uint64_t row = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    row += parts[i].tokens;
    ops::rms_norm(s, ops::TensorRef(x_, (row - 1) * row_bytes), output_norm_.ref(),
                  ops::TensorRef(xn_, i * row_bytes), 1, e, config_.rms_eps);
  }
  const DeviceTensor& head = output_.bytes != 0 ? output_ : token_embd_;
  return project(head, xn_.ref(), logits_, static_cast<std::uint32_t>(parts.size()));
}

// --- the recorded decode step ---

namespace {

// One tensor, or several packed in one buffer from the first's offset, as fused segments.
ops::FusedMatvec fused(std::initializer_list<const DeviceTensor*> tensors, ops::TensorRef x, ops::TensorRef y) {
  ops::FusedMatvec job;
  const DeviceTensor& first = **tensors.begin();
  job.w = first.ref();
  job.cols = first.cols;
  job.x = x;
  job.y = y;
  for (const DeviceTensor* t : tensors) job.segments.push_back({t->offset - first.offset, t->rows, t->type});
  return job;
}

}  // namespace

void LlamaStage::record_layer(const Layer& layer, std::uint32_t slot) {
  Stream& s = device_->stream();
  const LlamaConfig& c = config_;
  const ops::DevicePosition position{position_, options_.context - 1};

  ops::FusedMatvec qkv = fused({&layer.wq, &layer.wk, &layer.wv}, x_, qkv_);
  qkv.norm = layer.attn_norm.ref();
  qkv.eps = c.rms_eps;
  ops::matvec_fused(s, qkv);
  ops::rope_kv(s, qkv_, layer.k_cache[slot], layer.v_cache[slot],
               {.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim,
                .freq_base = c.rope_base, .mode = ops::RopeMode::normal},
               position);
  ops::attention_at(s, qkv_, layer.k_cache[slot], layer.v_cache[slot], attn_,
                    {.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim},
                    1.0f / std::sqrt(static_cast<float>(c.head_dim)), position, attention_scratch_);
  ops::FusedMatvec out = fused({&layer.wo}, attn_, x_);
  out.accumulate = true;
  ops::matvec_fused(s, out);

  ops::FusedMatvec gate_up = fused({&layer.w_gate, &layer.w_up}, x_, gate_);
  gate_up.norm = layer.ffn_norm.ref();
  gate_up.eps = c.rms_eps;
  gate_up.swiglu = true;
  ops::matvec_fused(s, gate_up);
  ops::FusedMatvec down = fused({&layer.w_down}, gate_, x_);
  down.accumulate = true;
  ops::matvec_fused(s, down);
}

void LlamaStage::record_head() {
  Stream& s = device_->stream();
  const DeviceTensor& head = output_.bytes != 0 ? output_ : token_embd_;
  if (fused_fits({&head})) {
    ops::FusedMatvec job = fused({&head}, x_, logits_);
    job.norm = output_norm_.ref();
    job.eps = config_.rms_eps;
    ops::matvec_fused(s, job);
    return;
  }
  // A head beyond one binding (a large vocabulary on lavapipe's 128 MiB): norm, then the matvec
  // that splits its rows.
  const SequenceRows one{};
  head_forward(std::span(&one, 1));
}

void LlamaStage::record_decode(std::uint32_t slot) {
  Stream& s = device_->stream();
  s.begin_recording();
  try {
    if (range_.embeds) {
      ops::get_rows(s, token_embd_.ref(), token_embd_.rows, token_embd_.cols, token_embd_.type, ids_, x_, 1);
    }
    for (const Layer& layer : layers_) record_layer(layer, slot);
    if (range_.outputs) record_head();
  } catch (...) {
    s.end_recording();
    throw;
  }
  decode_programs_[slot] = s.end_recording();
}

Event LlamaStage::decode(std::uint32_t pos, std::uint32_t slot) {
  if (!decode_programs_[slot].valid()) record_decode(slot);
  Stream& s = device_->stream();
  position_value_ = pos;
  s.upload(position_, 0, std::as_bytes(std::span(&position_value_, 1)));
  return s.replay(decode_programs_[slot]);
}

Event LlamaStage::forward(std::uint32_t tokens, std::uint32_t pos, std::uint32_t slot) {
  const SequenceRows part{.slot = slot, .pos = pos, .tokens = tokens};
  check_parts(std::span(&part, 1));
  if (tokens == 1 && fused_) return decode(pos, slot);
  return forward_rows(std::span(&part, 1));
}

void LlamaStage::check_parts(std::span<const SequenceRows> parts) const {
  if (parts.empty() || parts.size() > options_.max_sequences) {
    fail(Errc::invalid_argument, "a forward pass takes 1 to {} sequences, not {}", options_.max_sequences,
         parts.size());
  }
  std::uint64_t rows = 0;
  std::vector<bool> used(options_.max_sequences, false);
  for (const SequenceRows& p : parts) {
    if (p.slot >= options_.max_sequences) {
      fail(Errc::invalid_argument, "sequence slot {} is not one of the stage's {} slots", p.slot,
           options_.max_sequences);
    }
    if (used[p.slot]) fail(Errc::invalid_argument, "sequence slot {} appears twice in one pass", p.slot);
    used[p.slot] = true;
    if (p.tokens == 0) fail(Errc::invalid_argument, "a sequence in a forward pass needs at least one token");
    if (std::uint64_t{p.pos} + p.tokens > options_.context) {
      fail(Errc::out_of_range, "positions {}..{} are past the context of {} tokens", p.pos,
           std::uint64_t{p.pos} + p.tokens - 1, options_.context);
    }
    rows += p.tokens;
  }
  if (rows > options_.max_batch) {
    fail(Errc::invalid_argument, "a forward pass takes 1 to {} tokens, not {}", options_.max_batch, rows);
  }
}

Event LlamaStage::forward_rows(std::span<const SequenceRows> parts) {
  check_parts(parts);
  std::uint32_t rows = 0;
  for (const SequenceRows& p : parts) rows += p.tokens;
  Event last;
  if (range_.embeds) {
    last = ops::get_rows(device_->stream(), token_embd_.ref(), token_embd_.rows, token_embd_.cols,
                         token_embd_.type, ids_, x_, rows);
  }
  for (const Layer& layer : layers_) last = layer_forward(layer, parts, rows);
  if (range_.outputs) last = head_forward(parts);
  return last;
}

}  // namespace crossgpu::model
