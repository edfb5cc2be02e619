// Byte-level BPE as GPT-2 and Llama 3 do it: the pre-tokenizer cuts the text into words, each
// word's bytes start as one token each (the byte-level alphabet), and the adjacent pair with the
// lowest merge rank merges first (ties: leftmost) until no pair has a merge.
#include <queue>

#include "model/unicode.hpp"
#include "model/vocab.hpp"

namespace crossgpu::model {
namespace {

constexpr std::uint32_t no_token = 0xFFFFFFFF;  // a byte without a token: becomes unknown

struct Symbol {
  std::uint32_t id;
  int prev, next;
};

struct Candidate {
  std::uint32_t rank;
  int left, right;
  std::uint32_t left_id, right_id;  // what the pair was when queued: a changed symbol is stale
  bool operator<(const Candidate& o) const {  // priority_queue pops the largest
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

class BpeWord {
 public:
  BpeWord(const Vocab& vocab, std::string_view word) : vocab_(vocab) {
    symbols_.reserve(word.size());
    for (std::size_t i = 0; i < word.size(); ++i) {
      const auto id = vocab.byte_tokens[static_cast<unsigned char>(word[i])];
      const int index = static_cast<int>(i);
      symbols_.push_back({id.value_or(no_token), index - 1, i + 1 < word.size() ? index + 1 : -1});
    }
  }

  void encode(std::vector<std::uint32_t>& out) {
    for (std::size_t i = 1; i < symbols_.size(); ++i) queue_pair(static_cast<int>(i - 1), static_cast<int>(i));
    merge_all();
    for (int i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[i].next) {
      out.push_back(symbols_[i].id == no_token ? *vocab_.unk : symbols_[i].id);
    }
  }

 private:
  void queue_pair(int left, int right) {
    if (left < 0 || right < 0) return;
    const std::uint32_t l = symbols_[left].id;
    const std::uint32_t r = symbols_[right].id;
    if (l == no_token || r == no_token) return;
    const auto it = vocab_.merges.find(std::uint64_t{l} << 32 | r);
    if (it != vocab_.merges.end()) queue_.push({it->second.rank, left, right, l, r});
  }

  void merge_all() {
    while (!queue_.empty()) {
      const Candidate c = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[c.left];
      Symbol& r = symbols_[c.right];
      if (l.next != c.right || l.id != c.left_id || r.id != c.right_id) continue;  // stale
      l.id = vocab_.merges.at(std::uint64_t{c.left_id} << 32 | c.right_id).result;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = c.left;
      r.id = no_token;
      r.prev = r.next = -1;
      queue_pair(l.prev, c.left);
      queue_pair(c.left, l.next);
    }
  }

  const Vocab& vocab_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Candidate> queue_;
};

}  // namespace

void bpe_encode(const Vocab& vocab, std::string_view text, std::vector<std::uint32_t>& out) {
  for (std::string_view word : vocab.pre.split(text)) {
    // Llama 3's tokenizer takes a word that is a token as it is, before any merge.
    if (vocab.pre.ignore_merges()) {
      const auto id = vocab.find(unicode::to_byte_level(word));
      if (id && vocab.is_text_token(*id)) {
        out.push_back(*id);
        continue;
      }
    }
    BpeWord(vocab, word).encode(out);
  }
}

}  // namespace crossgpu::model
