// One sequence's part of a batched forward pass: its KV-cache slot, the position of its first
// token, and how many consecutive rows (tokens) of the batch are its. A prefill is one such part
// of many tokens; a continuous-batching decode step is several parts of one token each, every
// one in its own slot at its own position. The parts' rows follow each other in the batch.
#pragma once

#include <cstdint>

namespace crossgpu::model {

struct SequenceRows {
  std::uint32_t slot = 0;    // which of the stage's KV caches (0 .. max_sequences - 1)
  std::uint32_t pos = 0;     // position of the first token in that sequence
  std::uint32_t tokens = 1;  // rows of the batch, consecutive positions pos, pos + 1, ...
};

}  // namespace crossgpu::model
