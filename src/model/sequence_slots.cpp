#include "model/sequence_slots.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace crossgpu::model {

SequenceSlots::SequenceSlots(std::uint32_t slots) {
  if (slots == 0) fail(Errc::invalid_argument, "a pipeline needs at least one sequence slot");
  slots_.resize(slots);
}

std::uint32_t SequenceSlots::free() const noexcept {
  return static_cast<std::uint32_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; }));
}

std::optional<SequenceSlots::Claim> SequenceSlots::acquire(std::span<const std::uint32_t> prompt) {
  std::optional<Claim> resumed, oldest;
  std::uint64_t resumed_age = 0, oldest_age = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.busy) continue;
    const auto shared = static_cast<std::uint32_t>(
        std::mismatch(prompt.begin(), prompt.end(), s.tokens.begin(), s.tokens.end()).first - prompt.begin());
    // At least the prompt's last token runs again: its logits start the generation.
    const std::uint32_t cached = std::min<std::uint32_t>(shared, prompt.empty() ? 0 : prompt.size() - 1);
    // A slot whose tokens the prompt mostly continues is that conversation's next turn. A shorter
    // match (a shared BOS or system prompt) is not worth evicting another conversation for.
    const bool continues = cached > 0 && std::uint64_t{cached} * 2 >= s.tokens.size();
    if (continues && (!resumed || cached > resumed->cached || (cached == resumed->cached && s.released_at < resumed_age))) {
      resumed = Claim{i, cached};
      resumed_age = s.released_at;
    }
    if (!oldest || s.released_at < oldest_age) {
      oldest = Claim{i, cached};
      oldest_age = s.released_at;
    }
  }
  const std::optional<Claim> chosen = resumed ? resumed : oldest;
  if (chosen) slots_[chosen->slot].busy = true;
  return chosen;
}

void SequenceSlots::release(std::uint32_t slot, std::vector<std::uint32_t> tokens) {
  if (slot >= slots_.size() || !slots_[slot].busy) {
    fail(Errc::invalid_argument, "sequence slot {} is not in use and cannot be released", slot);
  }
  Slot& s = slots_[slot];
  s.busy = false;
  s.tokens = std::move(tokens);
  s.released_at = ++clock_;
}

}  // namespace crossgpu::model
