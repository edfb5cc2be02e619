// One pipeline stage of a llama-family model: a contiguous range of layers on one device, with
// their weights, their KV cache and the scratch activations, and the forward pass over them built
// from the device layer's ops. The first stage also holds the token embeddings; the last one the
// output norm and head. A whole model on one device is a single stage holding everything.
//
// A stage's input and output are the hidden states in `hidden()` ([tokens x embedding] f32):
// the pipeline copies them from one stage's device to the next. The first stage reads token ids
// from `token_ids()` instead; the last writes the logits of the batch's last token to `logits()`.
//
// Decode (one token) runs as a recorded program (device/recording.hpp) where the device has the
// fused kernels: the stage's layers are recorded once, on the first decode step, as six
// dispatches per layer (Q|K|V with the norm folded in; RoPE with the KV-cache write; attention;
// the output projection with the residual add; gate|up with the norm and SwiGLU; down with the
// residual add), over weights, scratch and KV cache allocated here. Each step then writes its
// position into a device buffer and replays the program. Prefill (several tokens) runs op by op.
//
// Sequence slots: a stage holds `max_sequences` KV caches (each of `context` positions), one per
// sequence in flight. forward_rows() runs a batch whose rows belong to several sequences
// (model/sequence_rows.hpp): every weight matrix is read once for all rows (the batched matmul of
// prefill), while RoPE, the KV-cache write and attention run per sequence, each in its own slot
// at its own position. That is the decode step of continuous batching; on GPUs, a step of 2 to
// 16 sequences of one token each replays a program recorded for its order of slots instead
// (llama_stage_rows.cpp), its projections by the few-token weight matmul. A slot needs no freeing
// on the device: attention reads only the positions below the one it is given, so a new
// sequence simply overwrites what the last one left (the caller owns which slot is whose).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "device/buffer.hpp"
#include "device/device.hpp"
#include "device/event.hpp"
#include "device/recording.hpp"
#include "kernels/ops.hpp"
#include "kernels/weight_type.hpp"
#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "model/sequence_rows.hpp"

namespace crossgpu::model {

struct StageRange {
  std::uint32_t first_layer = 0;
  std::uint32_t end_layer = 0;  // exclusive
  bool embeds = false;          // holds token_embd and turns ids into hidden states
  bool outputs = false;         // holds output_norm + output and produces logits
};

// Where a weight tensor's bytes came from when an upload hook placed them.
enum class WeightSource {
  not_handled,  // the hook did nothing: the stage uploads the bytes itself
  sent,         // the hook uploaded them (they crossed the link)
  cached,       // the device already had them (a node's weight cache): nothing was sent
};

struct StageOptions {
  std::uint32_t context = 512;    // positions of KV cache allocated
  std::uint32_t max_batch = 64;   // tokens per forward call (prefill is cut into such batches)
  std::uint32_t max_sequences = 1;  // KV-cache slots: sequences that may be in flight at once
  // Called after each tensor is on the device (sent or from a cache): (bytes placed so far,
  // bytes of this stage).
  std::function<void(std::uint64_t, std::uint64_t)> on_progress;
  // Optional: places one weight tensor's bytes into `dst` (a fresh buffer on `device`) in place
  // of the plain upload, e.g. from a remote node's weight cache. The model layer knows nothing
  // of nodes; the runtime installs this for remote devices.
  std::function<WeightSource(Device& device, BufferRef dst, std::uint64_t dst_offset,
                             std::span<const std::byte> bytes)>
      upload_weights;
  // Decode through the recorded program where the device supports it (tests turn it off to
  // compare the two paths).
  bool recorded_decode = true;
  // A decode step of several sequences (one token each) replays a program recorded per order of
  // slots on GPUs (llama_stage_rows.cpp); tests set this to take that path on any Vulkan device
  // with subgroup arithmetic (lavapipe), where it is not the faster one.
  bool recorded_rows_anywhere = false;
};

// A weight tensor on the device: `bytes` bytes at `offset` of a buffer the stage owns (several
// tensors that are used together share one buffer: Q|K|V, gate|up).
struct DeviceTensor {
  BufferRef buffer;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  kernels::WeightType type = kernels::WeightType::f32;
  std::uint64_t rows = 0, cols = 0;
  ops::TensorRef ref() const { return {buffer, offset}; }
};

class LlamaStage {
 public:
  // Uploads the stage's weights from the file and allocates its cache and scratch. Throws
  // Errc::out_of_memory (from the device) when they do not fit, Errc::unsupported for a tensor
  // type the kernels do not read.
  LlamaStage(const LlamaConfig& config, const GgufFile& file, std::shared_ptr<Device> device,
             StageRange range, StageOptions options);

  // Runs `tokens` tokens (1 ..max_batch) whose first has position `pos` through the stage, with
  // the KV cache of `slot`. Input: token_ids() (first stage) or hidden(); output: hidden() or
  // logits() (last stage: the last token's). Returns the event of the last op; the stage's
  // stream is in order. A single token replays the slot's recorded decode program.
  Event forward(std::uint32_t tokens, std::uint32_t pos, std::uint32_t slot = 0);

  // Runs a batch of several sequences' rows (at most max_batch rows in all, at most
  // max_sequences parts, each in a distinct slot) in one pass. Input as forward(), the parts'
  // rows one after the other; output: hidden() (all rows) or, on the last stage, logits() holding
  // one row of `vocab` logits per part (its last token's), in the parts' order. Errors:
  // Errc::invalid_argument for an empty part list, zero tokens, too many rows or parts, a slot
  // out of range or used twice; Errc::out_of_range past a slot's context.
  Event forward_rows(std::span<const SequenceRows> parts);

  Device& device() const noexcept { return *device_; }
  const StageRange& range() const noexcept { return range_; }
  BufferRef hidden() const noexcept { return x_.ref(); }
  BufferRef token_ids() const noexcept { return ids_.ref(); }
  BufferRef logits() const noexcept { return logits_.ref(); }
  std::uint64_t weight_bytes() const noexcept { return weight_bytes_; }
  std::uint64_t cache_bytes() const noexcept { return cache_bytes_; }  // the KV caches', all slots
  std::uint32_t max_sequences() const noexcept { return options_.max_sequences; }
  // Weight bytes uploaded to the device, and those it already had (the upload_weights hook said
  // cached); together they are weight_bytes().
  std::uint64_t sent_bytes() const noexcept { return sent_bytes_; }
  std::uint64_t cached_bytes() const noexcept { return cached_weight_bytes_; }
  const StageOptions& options() const noexcept { return options_; }
  // Whether decode steps replay a recorded program, and its dispatches per step (0 before the
  // first decode step and where decode runs op by op).
  bool decodes_recorded() const noexcept { return fused_; }
  std::size_t decode_dispatches() const noexcept {
    return decode_programs_.empty() ? 0 : decode_programs_.front().dispatches();
  }
  // Programs recorded for decode steps of several sequences (one per order of slots seen).
  std::size_t rows_programs() const noexcept { return rows_programs_.size(); }

 private:
  struct Layer {
    DeviceTensor attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
    // Present per the architecture (bytes 0 otherwise): Q|K|V biases (one f32 buffer, in that
    // order), per-head Q/K norms, the norms after attention and after the feed-forward block.
    DeviceTensor bq, bk, bv, q_norm, k_norm, post_attn_norm, post_ffn_norm;
    std::uint32_t index = 0;  // the layer's number in the model
    std::vector<Buffer> k_cache, v_cache;  // one per sequence slot
  };
  // Rows [first_row, first_row + rows) of a tensor (all of it when rows is 0): a fused tensor
  // (phi3's attn_qkv, ffn_up as gate|up) is loaded as the separate matrices it packs.
  struct Piece {
    std::string name;
    std::uint64_t first_row = 0, rows = 0;
  };

  // The pieces in one new buffer, each at an offset aligned for the kernels.
  std::vector<DeviceTensor> load(const GgufFile& file, const std::vector<Piece>& pieces);
  DeviceTensor load(const GgufFile& file, const std::string& name);
  void load_layer(const GgufFile& file, std::uint32_t l);
  void load_biases(const GgufFile& file, Layer& layer);
  Buffer scratch(std::uint64_t floats);
  bool fused_fits(const std::vector<const DeviceTensor*>& tensors) const;
  void record_decode(std::uint32_t slot);
  Event decode(std::uint32_t pos, std::uint32_t slot);
  void record_layer(const Layer& layer, std::uint32_t slot);
  void record_head();
  void check_parts(std::span<const SequenceRows> parts) const;
  // out[tokens x rows] = in[tokens x cols] * W^T: matvec for one token, matmul for a batch.
  Event project(const DeviceTensor& w, BufferRef in, ops::TensorRef out, std::uint32_t tokens);
  Event layer_forward(const Layer& layer, std::span<const SequenceRows> parts, std::uint32_t rows);
  // Attention of one part: RoPE on its rows of q_/k_, its keys and values into its slot's cache.
  void part_attention(const Layer& layer, const SequenceRows& part, std::uint32_t row);
  Event head_forward(std::span<const SequenceRows> parts);
  void add_biases(const Layer& layer, std::uint32_t rows);
  // The recorded decode step of several sequences (llama_stage_rows.cpp).
  bool rows_recordable(std::span<const SequenceRows> parts) const;
  Event decode_rows(std::span<const SequenceRows> parts);
  void record_rows(std::span<const SequenceRows> parts, Recording& program);
  void record_rows_layer(const Layer& layer, std::span<const SequenceRows> parts);
  void record_rows_projection(const DeviceTensor& w, BufferRef in, ops::TensorRef out, std::uint32_t n,
                              std::uint64_t ldy);

  LlamaConfig config_;
  std::shared_ptr<Device> device_;
  StageRange range_;
  StageOptions options_;
  std::uint64_t weight_bytes_ = 0, stage_bytes_ = 0, sent_bytes_ = 0, cache_bytes_ = 0;
  std::uint64_t cached_weight_bytes_ = 0;

  std::vector<Buffer> weight_buffers_;
  Buffer rope_factors_;  // config.rope_factors on the device, when the model has them
  DeviceTensor token_embd_, output_norm_, output_;
  std::vector<Layer> layers_;
  Buffer ids_, x_, xn_, q_, k_, v_, attn_, proj_, gate_, up_, logits_;
  // The recorded decode step: its inputs (position; ids_ or x_), scratch and program.
  bool fused_ = false;
  Buffer position_, qkv_, attention_scratch_;
  std::uint32_t position_value_ = 0;  // the upload's source, alive until it is consumed
  std::vector<Recording> decode_programs_;  // per slot, recorded on its first decode step
  // The recorded steps of several sequences: each part's position (written before a replay),
  // Q|K|V packed per part, and a program per order of slots.
  Buffer positions_, qkv_rows_;
  std::vector<std::uint32_t> positions_value_;
  std::map<std::vector<std::uint32_t>, Recording> rows_programs_;
};

// Bytes of weights a stage with this range uploads (for planning and progress).
std::uint64_t stage_weight_bytes(const LlamaConfig& config, const GgufFile& file, const StageRange& range);

}  // namespace crossgpu::model
