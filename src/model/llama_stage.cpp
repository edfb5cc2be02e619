#include "model/llama_stage.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "kernels/ops_arch.hpp"
#include "kernels/ops_attention.hpp"
#include "kernels/ops_weights.hpp"
#include "kernels/ops_weights_few.hpp"

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
    for (std::string& name : layer_tensors(config, l)) names.push_back(std::move(name));
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
  for (std::uint32_t l = range.first_layer; l < range.end_layer; ++l) load_layer(file, l);
  if (!config.rope_factors.empty()) {
    rope_factors_ = scratch(config.rope_factors.size());
    device_->stream().upload(rope_factors_.ref(), 0, std::as_bytes(std::span(config.rope_factors))).wait();
  }
  if (range.outputs) {
    output_norm_ = load(file, "output_norm.weight");
    if (!config.tied_output) output_ = load(file, "output.weight");
    else if (!range.embeds) output_ = load(file, "token_embd.weight");
    logits_ = scratch(std::uint64_t{options_.max_sequences} * config.vocab);  // a row per sequence
  }

  const std::uint64_t batch = options_.max_batch, q_dim = config.q_dim(), kv_dim = config.kv_dim();
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

std::vector<DeviceTensor> LlamaStage::load(const GgufFile& file, const std::vector<Piece>& pieces) {
  // Offsets aligned beyond the kernels' 4 bytes, so that a tensor may start a binding.
  constexpr std::uint64_t kAlignment = 256;
  std::vector<DeviceTensor> tensors;
  std::vector<std::span<const std::byte>> data;
  std::uint64_t total = 0;
  for (const Piece& piece : pieces) {
    const TensorInfo& info = file.tensor(piece.name);
    DeviceTensor t;
    t.type = weight_type_of(info);
    t.cols = info.dims.at(0);
    const std::uint64_t all_rows = info.dims.size() > 1 ? info.dims[1] : 1;
    t.rows = piece.rows == 0 ? all_rows : piece.rows;
    const std::uint64_t row_bytes = info.bytes / all_rows;
    data.push_back(file.tensor_data(info).subspan(piece.first_row * row_bytes, t.rows * row_bytes));
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
  return load(file, std::vector<Piece>{{name}}).front();
}

void LlamaStage::load_layer(const GgufFile& file, std::uint32_t l) {
  const LlamaConfig& c = config_;
  const ArchFeatures& a = c.arch;
  Layer layer;
  layer.index = l;
  layer.attn_norm = load(file, layer_tensor(l, "attn_norm"));
  // Tensors that one fused dispatch reads share a buffer, in the order it reads them.
  const std::vector<Piece> qkv_pieces =
      a.fused_qkv ? std::vector<Piece>{{layer_tensor(l, "attn_qkv"), 0, c.q_dim()},
                                       {layer_tensor(l, "attn_qkv"), c.q_dim(), c.kv_dim()},
                                       {layer_tensor(l, "attn_qkv"), c.q_dim() + c.kv_dim(), c.kv_dim()}}
                  : std::vector<Piece>{{layer_tensor(l, "attn_q")}, {layer_tensor(l, "attn_k")}, {layer_tensor(l, "attn_v")}};
  const auto qkv = load(file, qkv_pieces);
  layer.wq = qkv[0];
  layer.wk = qkv[1];
  layer.wv = qkv[2];
  if (a.qkv_bias) load_biases(file, layer);
  if (a.qk_norm) {
    layer.q_norm = load(file, layer_tensor(l, "attn_q_norm"));
    layer.k_norm = load(file, layer_tensor(l, "attn_k_norm"));
  }
  layer.wo = load(file, layer_tensor(l, "attn_output"));
  if (a.post_norms) layer.post_attn_norm = load(file, layer_tensor(l, "post_attention_norm"));
  layer.ffn_norm = load(file, layer_tensor(l, "ffn_norm"));
  const std::vector<Piece> gate_up_pieces =
      a.fused_gate_up ? std::vector<Piece>{{layer_tensor(l, "ffn_up"), 0, c.ffn}, {layer_tensor(l, "ffn_up"), c.ffn, c.ffn}}
                      : std::vector<Piece>{{layer_tensor(l, "ffn_gate")}, {layer_tensor(l, "ffn_up")}};
  const auto gate_up = load(file, gate_up_pieces);
  layer.w_gate = gate_up[0];
  layer.w_up = gate_up[1];
  layer.w_down = load(file, layer_tensor(l, "ffn_down"));
  if (a.post_norms) layer.post_ffn_norm = load(file, layer_tensor(l, "post_ffw_norm"));
  // A buffer per slot rather than one for all: each stays within one storage binding however
  // many slots there are, and a recorded decode program binds its slot's buffers directly.
  const std::uint64_t kv_floats = std::uint64_t{options_.context} * c.kv_dim();
  for (std::uint32_t slot = 0; slot < options_.max_sequences; ++slot) {
    layer.k_cache.push_back(scratch(kv_floats));
    layer.v_cache.push_back(scratch(kv_floats));
    cache_bytes_ += 2 * kv_floats * sizeof(float);
  }
  layers_.push_back(std::move(layer));
}

// Q|K|V biases back to back in one f32 buffer: the recorded step adds them to the packed Q|K|V
// with one op.
void LlamaStage::load_biases(const GgufFile& file, Layer& layer) {
  std::vector<float> packed;
  for (const char* what : {"attn_q", "attn_k", "attn_v"}) {
    const TensorInfo& info = file.tensor(layer_bias(layer.index, what));
    if (info.type != static_cast<std::uint32_t>(TensorType::f32)) {
      fail(Errc::unsupported, "tensor '{}' has type {}; crossgpu reads biases as f32 only", info.name, info.type);
    }
    const auto bytes = file.tensor_data(info);
    const std::size_t first = packed.size();
    packed.resize(first + bytes.size() / sizeof(float));
    std::memcpy(packed.data() + first, bytes.data(), bytes.size());
  }
  Buffer buffer = scratch(packed.size());
  device_->stream().upload(buffer.ref(), 0, std::as_bytes(std::span(packed))).wait();
  weight_bytes_ += packed.size() * sizeof(float);
  sent_bytes_ += packed.size() * sizeof(float);
  const std::uint64_t q = config_.q_dim(), kv = config_.kv_dim();
  layer.bq = {buffer.ref(), 0, q * sizeof(float), WeightType::f32, 1, q};
  layer.bk = {buffer.ref(), q * sizeof(float), kv * sizeof(float), WeightType::f32, 1, kv};
  layer.bv = {buffer.ref(), (q + kv) * sizeof(float), kv * sizeof(float), WeightType::f32, 1, kv};
  weight_buffers_.push_back(std::move(buffer));
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
  // A continuous-batching decode step on a GPU: each weight read once for the few rows, their
  // sums in registers (matmul_weights' 64-token tiles are mostly padding there).
  if (ops::matmul_weights_few_fits(*device_, tokens, w.cols, in)) {
    return ops::matmul_weights_few(s, w.ref(), in, out, w.rows, w.cols, tokens, w.type);
  }
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
  const std::uint64_t q_row = c.q_dim(), kv_row = c.kv_dim();
  const ops::TensorRef q(q_, row * q_row * sizeof(float)), out(attn_, row * q_row * sizeof(float));
  const ops::TensorRef k(k_, row * kv_row * sizeof(float)), v(v_, row * kv_row * sizeof(float));
  const std::uint64_t cache_offset = std::uint64_t{part.pos} * kv_row * sizeof(float);
  const Buffer& k_cache = layer.k_cache[part.slot];
  const Buffer& v_cache = layer.v_cache[part.slot];
  const float base = c.layer_rope_base(layer.index);
  if (c.rope_factors.empty() && c.rope_scale == 1.0f) {
    ops::rope(s, q, part.tokens, c.heads, c.head_dim, part.pos, base, c.arch.rope_mode);
    ops::rope(s, k, part.tokens, c.kv_heads, c.head_dim, part.pos, base, c.arch.rope_mode);
  } else {
    const ops::RopeFreqsParams rope{.freq_base = base, .freq_scale = c.rope_scale, .mode = c.arch.rope_mode};
    ops::rope_freqs(s, q, rope_factors_, part.tokens, c.heads, c.head_dim, part.pos, rope);
    ops::rope_freqs(s, k, rope_factors_, part.tokens, c.kv_heads, c.head_dim, part.pos, rope);
  }
  ops::copy(s, k, ops::TensorRef(k_cache, cache_offset), part.tokens * kv_row);
  ops::copy(s, v, ops::TensorRef(v_cache, cache_offset), part.tokens * kv_row);
  const ops::AttentionShape shape{.tokens = part.tokens, .heads = c.heads, .kv_heads = c.kv_heads,
                                  .head_dim = c.head_dim, .start_pos = part.pos};
  const std::uint32_t window = c.layer_slides(layer.index) ? c.arch.sliding_window : 0;
  if (window != 0 || c.arch.attn_softcap > 0) {
    ops::attention_window(s, q, k_cache, v_cache, out, shape, c.attention_scale,
                          {.window = window, .softcap = c.arch.attn_softcap});
  } else {
    ops::attention(s, q, k_cache, v_cache, out, shape, c.attention_scale);
  }
}

// Each row of Q, K and V plus its bias (the op-by-op path; a decode step adds all three at once).
void LlamaStage::add_biases(const Layer& layer, std::uint32_t rows) {
  Stream& s = device_->stream();
  const std::pair<const DeviceTensor*, const Buffer*> parts[] = {{&layer.bq, &q_}, {&layer.bk, &k_}, {&layer.bv, &v_}};
  for (const auto& [bias, out] : parts) {
    const std::uint64_t n = bias->cols, row_bytes = n * sizeof(float);
    for (std::uint32_t r = 0; r < rows; ++r) {
      ops::add(s, ops::TensorRef(*out, r * row_bytes), bias->ref(), ops::TensorRef(*out, r * row_bytes), n);
    }
  }
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
  if (layer.bq.bytes != 0) add_biases(layer, rows);
  if (layer.q_norm.bytes != 0) {  // per head, before RoPE (qwen3, gemma3)
    ops::rms_norm(s, q_, layer.q_norm.ref(), q_, std::uint64_t{rows} * c.heads, c.head_dim, c.rms_eps);
    ops::rms_norm(s, k_, layer.k_norm.ref(), k_, std::uint64_t{rows} * c.kv_heads, c.head_dim, c.rms_eps);
  }
  std::uint32_t row = 0;
  for (const SequenceRows& part : parts) {
    part_attention(layer, part, row);
    row += part.tokens;
  }
  project(layer.wo, attn_.ref(), proj_, rows);
  if (layer.post_attn_norm.bytes != 0) ops::rms_norm(s, proj_, layer.post_attn_norm.ref(), proj_, rows, e, c.rms_eps);
  ops::add(s, x_, proj_, x_, rows * e);

  // Feed-forward block (SwiGLU, or GELU gating): x += W_down (act(W_gate xn) * W_up xn).
  ops::rms_norm(s, x_, layer.ffn_norm.ref(), xn_, rows, e, c.rms_eps);
  project(layer.w_gate, xn_.ref(), gate_, rows);
  project(layer.w_up, xn_.ref(), up_, rows);
  const std::uint64_t f = std::uint64_t{rows} * c.ffn;
  if (c.arch.gelu) ops::gelu_tanh(s, gate_, gate_, f);
  else ops::silu(s, gate_, gate_, f);
  ops::mul(s, gate_, up_, gate_, f);
  project(layer.w_down, gate_.ref(), proj_, rows);
  if (layer.post_ffn_norm.bytes != 0) ops::rms_norm(s, proj_, layer.post_ffn_norm.ref(), proj_, rows, e, c.rms_eps);
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
  Event last = project(head, xn_.ref(), logits_, static_cast<std::uint32_t>(parts.size()));
  if (config_.arch.final_softcap > 0) {
    last = ops::softcap(s, logits_, logits_, parts.size() * std::uint64_t{config_.vocab}, config_.arch.final_softcap);
  }
  return last;
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
  const std::uint64_t e = c.embedding;

  ops::FusedMatvec qkv = fused({&layer.wq, &layer.wk, &layer.wv}, x_, qkv_);
  qkv.norm = layer.attn_norm.ref();
  qkv.eps = c.rms_eps;
  ops::matvec_fused(s, qkv);
  const std::uint64_t packed = c.q_dim() + 2 * c.kv_dim();
  if (layer.bq.bytes != 0) ops::add(s, qkv_, layer.bq.ref(), qkv_, packed);  // bq|bk|bv are packed alike
  if (layer.q_norm.bytes != 0) {
    ops::rms_norm(s, qkv_, layer.q_norm.ref(), qkv_, c.heads, c.head_dim, c.rms_eps);
    const ops::TensorRef keys(qkv_, c.q_dim() * sizeof(float));
    ops::rms_norm(s, keys, layer.k_norm.ref(), keys, c.kv_heads, c.head_dim, c.rms_eps);
  }
  const ops::RopeKvShape rope{.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim,
                              .freq_base = c.layer_rope_base(layer.index), .mode = c.arch.rope_mode};
  if (c.rope_factors.empty() && c.rope_scale == 1.0f) {
    ops::rope_kv(s, qkv_, layer.k_cache[slot], layer.v_cache[slot], rope, position);
  } else {
    ops::rope_kv_freqs(s, qkv_, layer.k_cache[slot], layer.v_cache[slot], rope_factors_, rope, c.rope_scale, position);
  }
  const ops::AttentionShape one{.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim};
  const std::uint32_t window = c.layer_slides(layer.index) ? c.arch.sliding_window : 0;
  if (window != 0 || c.arch.attn_softcap > 0) {
    ops::attention_window_at(s, qkv_, layer.k_cache[slot], layer.v_cache[slot], attn_, one, c.attention_scale,
                             {.window = window, .softcap = c.arch.attn_softcap}, position);
  } else {
    ops::attention_at(s, qkv_, layer.k_cache[slot], layer.v_cache[slot], attn_, one, c.attention_scale, position,
                      attention_scratch_);
  }
  const bool post = layer.post_attn_norm.bytes != 0;
  ops::FusedMatvec out = fused({&layer.wo}, attn_, post ? proj_ : x_);
  out.accumulate = !post;
  ops::matvec_fused(s, out);
  if (post) {  // gemma: the projection normalized before the residual add
    ops::rms_norm(s, proj_, layer.post_attn_norm.ref(), proj_, 1, e, c.rms_eps);
    ops::add(s, x_, proj_, x_, e);
  }

  if (c.arch.gelu) {  // GELU gating: gate and up apart, the activation on its own
    ops::FusedMatvec gate = fused({&layer.w_gate}, x_, gate_);
    gate.norm = layer.ffn_norm.ref();
    gate.eps = c.rms_eps;
    ops::matvec_fused(s, gate);
    ops::FusedMatvec up = fused({&layer.w_up}, x_, up_);
    up.norm = layer.ffn_norm.ref();
    up.eps = c.rms_eps;
    ops::matvec_fused(s, up);
    ops::gelu_tanh(s, gate_, gate_, c.ffn);
    ops::mul(s, gate_, up_, gate_, c.ffn);
  } else {
    ops::FusedMatvec gate_up = fused({&layer.w_gate, &layer.w_up}, x_, gate_);
    gate_up.norm = layer.ffn_norm.ref();
    gate_up.eps = c.rms_eps;
    gate_up.swiglu = true;
    ops::matvec_fused(s, gate_up);
  }
  const bool post_ffn = layer.post_ffn_norm.bytes != 0;
  ops::FusedMatvec down = fused({&layer.w_down}, gate_, post_ffn ? proj_ : x_);
  down.accumulate = !post_ffn;
  ops::matvec_fused(s, down);
  if (post_ffn) {
    ops::rms_norm(s, proj_, layer.post_ffn_norm.ref(), proj_, 1, e, c.rms_eps);
    ops::add(s, x_, proj_, x_, e);
  }
}

void LlamaStage::record_head() {
  Stream& s = device_->stream();
  const DeviceTensor& head = output_.bytes != 0 ? output_ : token_embd_;
  if (fused_fits({&head})) {
    ops::FusedMatvec job = fused({&head}, x_, logits_);
    job.norm = output_norm_.ref();
    job.eps = config_.rms_eps;
    ops::matvec_fused(s, job);
    if (config_.arch.final_softcap > 0) ops::softcap(s, logits_, logits_, config_.vocab, config_.arch.final_softcap);
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
      if (config_.arch.embedding_scale != 1.0f) ops::scale(s, x_, x_, config_.embedding, config_.arch.embedding_scale);
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
  if (rows_recordable(parts)) return decode_rows(parts);
  std::uint32_t rows = 0;
  for (const SequenceRows& p : parts) rows += p.tokens;
  Event last;
  if (range_.embeds) {
    last = ops::get_rows(device_->stream(), token_embd_.ref(), token_embd_.rows, token_embd_.cols,
                         token_embd_.type, ids_, x_, rows);
    if (config_.arch.embedding_scale != 1.0f) {
      last = ops::scale(device_->stream(), x_, x_, std::uint64_t{rows} * config_.embedding, config_.arch.embedding_scale);
    }
  }
  for (const Layer& layer : layers_) last = layer_forward(layer, parts, rows);
  if (range_.outputs) last = head_forward(parts);
  return last;
}

}  // namespace crossgpu::model
