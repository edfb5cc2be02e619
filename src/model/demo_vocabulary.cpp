// The demo models' vocabulary: real SentencePiece structure at a small size, so that generated
// demo models tokenize English into multi-character pieces and any text through byte fallback.
#include <fmt/format.h>

#include <set>
#include <string_view>

#include "model/tokenizer.hpp"
#include "model/unicode.hpp"

namespace crossgpu::model {
namespace {

constexpr std::string_view space_mark = "\xE2\x96\x81";  // U+2581

constexpr std::string_view common_words[] = {
    "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on",
    "are", "with", "as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had",
    "by", "hot", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all",
    "there", "when", "up", "use", "your", "how", "said", "an", "each", "she", "which", "do",
    "their", "time", "if", "will", "way", "about", "many", "then", "them", "write", "would",
    "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look",
    "more", "day", "could", "go", "come", "did", "number", "sound", "no", "most", "people", "my",
    "over", "know", "water", "than", "call", "first", "who", "may", "down", "side", "been", "now",
    "find", "any", "new", "work", "part", "take", "get", "place", "made", "live", "where",
    "after", "back", "little", "only", "round", "man", "year", "came", "show", "every", "good",
    "me", "give", "our", "under", "name", "very", "through", "just", "form", "sentence", "great",
    "think", "say", "help", "low", "line", "differ", "turn", "cause", "much", "mean", "before",
    "move", "right", "boy", "old", "too", "same", "tell", "does", "set", "three", "want", "air",
    "well", "also", "play", "small", "end", "put", "home", "read", "hand", "port", "large",
    "spell", "add", "even", "land", "here", "must", "big", "high", "such", "follow", "act", "why",
    "ask", "men", "change", "went", "light", "kind", "off", "need", "house", "picture", "try",
    "us", "again", "animal", "point", "mother", "world", "near", "build", "self", "earth",
    "father", "hello", "quick", "brown", "fox", "jumps", "jump", "lazy", "dog", "model", "token",
    "question", "answer", "computer", "program", "language", "story", "once", "upon", "night",
    "cat", "sun", "tree", "city", "name", "please", "thank", "yes", "today", "tomorrow", "love",
    "life", "friend", "school", "book", "learn", "machine", "data", "cluster", "device", "GPU",
};

// Endings that attach to words without a space.
constexpr std::string_view suffixes[] = {"s", "es", "ed", "ing", "er", "ly", "tion", "ness", "'s", "n't"};

std::string capitalized(std::string_view word) {
  std::string out(word);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 32);
  return out;
}

class DemoBuilder {
 public:
  void add(std::string text, TokenType type, float score) {
    if (!seen_.insert(text).second) return;
    spec.tokens.push_back(std::move(text));
    spec.token_types.push_back(type);
    spec.scores.push_back(score);
  }

  // A piece and every prefix of it, so that pairwise merges can build it up. Longer pieces score
  // lower: merges then run bottom-up from pairs, like the BPE model SentencePiece trains.
  void add_with_prefixes(std::string_view piece, float penalty) {
    const auto chars = unicode::split_chars(piece);
    for (std::size_t n = 2; n <= chars.size(); ++n) {
      const std::size_t bytes = chars[n - 1].offset + chars[n - 1].length;
      add(std::string(piece.substr(0, bytes)), TokenType::normal, -static_cast<float>(n) - penalty);
    }
  }

  TokenizerSpec spec;

 private:
  std::set<std::string> seen_;
};

}  // namespace

TokenizerSpec demo_spm_vocabulary() {
  DemoBuilder b;
  b.spec.kind = "llama";
  b.add("<unk>", TokenType::unknown, 0);
  b.add("<s>", TokenType::control, 0);
  b.add("</s>", TokenType::control, 0);
  for (unsigned byte = 0; byte < 256; ++byte) {
    b.add(fmt::format("<0x{:02X}>", byte), TokenType::byte, 0);
  }
  b.add("<|im_start|>", TokenType::control, 0);
  b.add("<|im_end|>", TokenType::control, 0);
  b.add(std::string(space_mark), TokenType::normal, -1);
  for (char c = 0x21; c < 0x7F; ++c) b.add(std::string(1, c), TokenType::normal, -1);
  for (std::string_view word : common_words) {
    b.add_with_prefixes(std::string(space_mark) + std::string(word), 0);
    b.add_with_prefixes(std::string(space_mark) + capitalized(word), 0);
  }
  for (std::string_view suffix : suffixes) b.add_with_prefixes(suffix, 0.5f);
  b.spec.bos = 1;
  b.spec.eos = 2;
  b.spec.unk = 0;
  b.spec.add_bos = true;
  b.spec.add_eos = false;
  return b.spec;
}

}  // namespace crossgpu::model
