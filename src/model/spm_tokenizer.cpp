// SentencePiece-style encoding as llama.cpp does it: spaces become U+2581, the text starts as one
// symbol per UTF-8 character, and the adjacent pair whose concatenation is the best-scored token
// merges first (ties: leftmost), until no pair is a token. A leftover character that is not a
// token falls back to its <0xXX> byte tokens, or the unknown token.
#include <queue>

#include "model/unicode.hpp"
#include "model/vocab.hpp"

namespace crossgpu::model {
namespace {

constexpr std::string_view space_mark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

struct Symbol {
  std::size_t offset, length;  // in the escaped text
  int prev, next;              // neighbours still alive (-1: none)
};

struct Bigram {
  int left, right;
  float score;
  std::size_t length;  // of the pair when queued: a changed symbol makes the entry stale
  bool operator<(const Bigram& o) const {  // priority_queue pops the largest
    return score < o.score || (score == o.score && left > o.left);
  }
};

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') out += space_mark;
    else out += c;
  }
  return out;
}

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, std::string text) : vocab_(vocab), text_(std::move(text)) {}

  void encode(std::vector<std::uint32_t>& out) {
    split();
    for (std::size_t i = 1; i < symbols_.size(); ++i) queue_pair(static_cast<int>(i - 1), static_cast<int>(i));
    merge_all();
    for (int i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[i].next) emit(symbols_[i], out);
  }

 private:
  std::string_view view(const Symbol& s) const { return std::string_view(text_).substr(s.offset, s.length); }

  void split() {
    symbols_.reserve(text_.size());
    for (std::size_t pos = 0; pos < text_.size();) {
      const std::size_t n = unicode::decode_at(text_, pos).length;
      const int index = static_cast<int>(symbols_.size());
      symbols_.push_back({pos, n, index - 1, pos + n < text_.size() ? index + 1 : -1});
      pos += n;
    }
  }

  void queue_pair(int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols_[left];
    const Symbol& r = symbols_[right];
    const auto id = vocab_.find(std::string_view(text_).substr(l.offset, l.length + r.length));
    if (!id || !vocab_.is_text_token(*id)) return;
    queue_.push({left, right, vocab_.scores[*id], l.length + r.length});
  }

  void merge_all() {
    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      if (l.length == 0 || r.length == 0 || l.length + r.length != b.length) continue;  // stale
      l.length += r.length;
      r.length = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      queue_pair(l.prev, b.left);
      queue_pair(b.left, l.next);
    }
  }

  void emit(const Symbol& s, std::vector<std::uint32_t>& out) const {
    const auto id = vocab_.find(view(s));
    if (id && vocab_.is_text_token(*id)) {
      out.push_back(*id);
      return;
    }
    // Only single characters can be left without a token: merges always produce tokens.
    for (std::size_t i = 0; i < s.length; ++i) {
      if (!vocab_.byte_tokens[static_cast<unsigned char>(text_[s.offset + i])]) {
        out.push_back(*vocab_.unk);  // load_vocab ensures an unknown token when bytes are missing
        return;
      }
    }
    for (std::size_t i = 0; i < s.length; ++i) {
      out.push_back(*vocab_.byte_tokens[static_cast<unsigned char>(text_[s.offset + i])]);
    }
  }

  const Vocab& vocab_;
  std::string text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram> queue_;
};

}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, std::vector<std::uint32_t>& out) {
  SpmSession(vocab, escape_spaces(text)).encode(out);
}

}  // namespace crossgpu::model
