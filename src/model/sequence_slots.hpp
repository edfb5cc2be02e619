// Which sequence holds which KV-cache slot of a pipeline (LlamaStage's max_sequences), and which
// tokens each free slot still holds: the bookkeeping of continuous batching and prefix reuse. A
// new sequence takes the free slot whose cached tokens its prompt continues (at least half of
// them: the next turn of a chat, which then runs only its new tokens), the longest such match;
// without one, the slot released longest ago (least recently used), so that a shared BOS or
// system prompt does not evict a recent conversation. Host-side only: the caches
// themselves need no clearing (attention reads only positions below the one it is given).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace crossgpu::model {

class SequenceSlots {
 public:
  // Throws Errc::invalid_argument for zero slots.
  explicit SequenceSlots(std::uint32_t slots);

  struct Claim {
    std::uint32_t slot = 0;
    std::uint32_t cached = 0;  // prompt tokens the slot holds already (at most the prompt's - 1)
  };
  // Takes a free slot for a sequence starting with `prompt`; none when every slot is busy.
  std::optional<Claim> acquire(std::span<const std::uint32_t> prompt);
  // Gives a busy slot back, holding `tokens` (those whose keys and values are in its caches at
  // positions 0..; empty when unknown, e.g. after a failed pass). Throws Errc::invalid_argument
  // for a slot that is not busy.
  void release(std::uint32_t slot, std::vector<std::uint32_t> tokens);

  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }
  std::uint32_t free() const noexcept;
  bool busy(std::uint32_t slot) const { return slots_.at(slot).busy; }
  std::span<const std::uint32_t> cached(std::uint32_t slot) const { return slots_.at(slot).tokens; }

 private:
  struct Slot {
    bool busy = false;
    std::vector<std::uint32_t> tokens;
    std::uint64_t released_at = 0;  // a tick of clock_: smaller is older
  };
  std::vector<Slot> slots_;
  std::uint64_t clock_ = 0;
};

}  // namespace crossgpu::model
