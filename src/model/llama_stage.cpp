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
  if (options_.max_batch == 0 || options_.context == 0) {
    fail(Errc::invalid_argument, "a stage needs a batch and a context of at least one token");
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
    const std::uint64_t kv_floats = std::uint64_t{options_.context} * config.kv_heads * config.head_dim;
    layer.k_cache = scratch(kv_floats);
    layer.v_cache = scratch(kv_floats);
    cache_bytes_ += 2 * kv_floats * sizeof(float);
    layers_.push_back(std::move(layer));
  }
  if (range.outputs) {
    output_norm_ = load(file, "output_norm.weight");
    if (!config.tied_output) output_ = load(file, "output.weight");
    else if (!range.embeds) output_ = load(file, "token_embd.weight");
    logits_ = scratch(config.vocab);
  }

  const std::uint64_t batch = options_.max_batch, q_dim = std::uint64_t{config.heads} * config.head_dim;
  const std::uint64_t kv_dim = std::uint64_t{config.kv_heads} * config.head_dim;
  ids_ = device_->allocate(batch * sizeof(std::uint32_t));
  x_ = scratch(batch * config.embedding);
  xn_ = scratch(batch * config.embedding);
  proj_ = scratch(batch * config.embedding);
  q_ = scratch(batch * q_dim);
  attn_ = scratch(batch * q_dim);
  gate_ = scratch(batch * config.ffn);
  up_ = scratch(batch * config.ffn);

  fused_ = options_.recorded_decode;
  for (const Layer& layer : layers_) {
    fused_ = fused_ && fused_fits({&layer.wq, &layer.wk, &layer.wv}) && fused_fits({&layer.wo}) &&
             fused_fits({&layer.w_gate, &layer.w_up}) && fused_fits({&layer.w_down});
  }
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

Event LlamaStage::project(const DeviceTensor& w, BufferRef in, ops::TensorRef out, std::uint32_t tokens) {
  Stream& s = device_->stream();
  if (tokens == 1) return ops::matvec_weights(s, w.ref(), in, out, w.rows, w.cols, w.type);
  return ops::matmul_weights(s, w.ref(), in, out, w.rows, w.cols, tokens, w.type);
}

Event LlamaStage::layer_forward(const Layer& layer, std::uint32_t tokens, std::uint32_t pos) {
  Stream& s = device_->stream();
  const LlamaConfig& c = config_;
  const std::uint64_t e = c.embedding, kv_row = std::uint64_t{c.kv_heads} * c.head_dim;
  const std::uint64_t cache_offset = pos * kv_row * sizeof(float);

  // Attention block: x += Wo * attention(rope(Wq xn), cache <- rope(Wk xn), Wv xn).
  ops::rms_norm(s, x_, layer.attn_norm.ref(), xn_, tokens, e, c.rms_eps);
  project(layer.wq, xn_.ref(), q_, tokens);
  project(layer.wk, xn_.ref(), ops::TensorRef(layer.k_cache, cache_offset), tokens);
  project(layer.wv, xn_.ref(), ops::TensorRef(layer.v_cache, cache_offset), tokens);
  ops::rope(s, q_, tokens, c.heads, c.head_dim, pos, c.rope_base, ops::RopeMode::normal);
  ops::rope(s, ops::TensorRef(layer.k_cache, cache_offset), tokens, c.kv_heads, c.head_dim, pos,
            c.rope_base, ops::RopeMode::normal);
  const ops::AttentionShape shape{.tokens = tokens, .heads = c.heads, .kv_heads = c.kv_heads,
                                  .head_dim = c.head_dim, .start_pos = pos};
  ops::attention(s, q_, layer.k_cache, layer.v_cache, attn_, shape,
                 1.0f / std::sqrt(static_cast<float>(c.head_dim)));
  project(layer.wo, attn_.ref(), proj_, tokens);
  ops::add(s, x_, proj_, x_, tokens * e);

  // Feed-forward block (SwiGLU): x += W_down (silu(W_gate xn) * W_up xn).
  ops::rms_norm(s, x_, layer.ffn_norm.ref(), xn_, tokens, e, c.rms_eps);
  project(layer.w_gate, xn_.ref(), gate_, tokens);
  project(layer.w_up, xn_.ref(), up_, tokens);
  const std::uint64_t f = std::uint64_t{tokens} * c.ffn;
  ops::silu(s, gate_, gate_, f);
  ops::mul(s, gate_, up_, gate_, f);
  project(layer.w_down, gate_.ref(), proj_, tokens);
  return ops::add(s, x_, proj_, x_, tokens * e);
}

Event LlamaStage::head_forward(std::uint32_t tokens) {
  // Only the batch's last token is sampled from: normalize that row and project it.
  Stream& s = device_->stream();
  const std::uint64_t e = config_.embedding, last = (tokens - 1) * e * sizeof(float);
  ops::rms_norm(s, ops::TensorRef(x_, last), output_norm_.ref(), xn_, 1, e, config_.rms_eps);
  const DeviceTensor& head = output_.bytes != 0 ? output_ : token_embd_;
  return ops::matvec_weights(s, head.ref(), xn_, logits_, head.rows, head.cols, head.type);
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

void LlamaStage::record_layer(const Layer& layer) {
  Stream& s = device_->stream();
  const LlamaConfig& c = config_;
  const ops::DevicePosition position{position_, options_.context - 1};

  ops::FusedMatvec qkv = fused({&layer.wq, &layer.wk, &layer.wv}, x_, qkv_);
  qkv.norm = layer.attn_norm.ref();
  qkv.eps = c.rms_eps;
  ops::matvec_fused(s, qkv);
  ops::rope_kv(s, qkv_, layer.k_cache, layer.v_cache,
               {.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim,
                .freq_base = c.rope_base, .mode = ops::RopeMode::normal},
               position);
  ops::attention_at(s, qkv_, layer.k_cache, layer.v_cache, attn_,
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
  head_forward(1);
}

void LlamaStage::record_decode() {
  Stream& s = device_->stream();
  s.begin_recording();
  try {
    if (range_.embeds) {
      ops::get_rows(s, token_embd_.ref(), token_embd_.rows, token_embd_.cols, token_embd_.type, ids_, x_, 1);
    }
    for (const Layer& layer : layers_) record_layer(layer);
    if (range_.outputs) record_head();
  } catch (...) {
    s.end_recording();
    throw;
  }
  decode_program_ = s.end_recording();
}

Event LlamaStage::decode(std::uint32_t pos) {
  if (!decode_program_.valid()) record_decode();
  Stream& s = device_->stream();
  position_value_ = pos;
  s.upload(position_, 0, std::as_bytes(std::span(&position_value_, 1)));
  return s.replay(decode_program_);
}

Event LlamaStage::forward(std::uint32_t tokens, std::uint32_t pos) {
  if (tokens == 0 || tokens > options_.max_batch) {
    fail(Errc::invalid_argument, "a forward pass takes 1 to {} tokens, not {}", options_.max_batch, tokens);
  }
  if (std::uint64_t{pos} + tokens > options_.context) {
    fail(Errc::out_of_range, "positions {}..{} are past the context of {} tokens", pos, pos + tokens - 1,
         options_.context);
  }
  if (tokens == 1 && fused_) return decode(pos);
  Event last;
  if (range_.embeds) {
    last = ops::get_rows(device_->stream(), token_embd_.ref(), token_embd_.rows, token_embd_.cols,
                         token_embd_.type, ids_, x_, tokens);
  }
  for (const Layer& layer : layers_) last = layer_forward(layer, tokens, pos);
  if (range_.outputs) last = head_forward(tokens);
  return last;
}

}  // namespace crossgpu::model
