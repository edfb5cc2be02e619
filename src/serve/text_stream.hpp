// Generated text on its way to a client: pieces come token by token, and two things must not be
// sent early. A stop string may be split across tokens ("</" then "s>"), so text that could be the
// start of one is held back until it is known not to be; and a token may end inside a UTF-8
// character, whose first bytes are held back until the rest comes (a JSON string cannot carry half
// a character).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::serve {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop_strings = {});

  // Adds a generated piece; returns the text that can be sent now. Once a stop string is seen,
  // stopped() is true and nothing from the stop string on is ever returned.
  std::string push(std::string_view piece);
  // At the end of generation: the held-back text (an incomplete character becomes U+FFFD).
  std::string finish();
  bool stopped() const noexcept { return stopped_; }

 private:
  std::size_t safe_length() const;  // bytes of pending_ that can go out now

  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// The bytes of `text` up to the start of an incomplete UTF-8 character at its end.
std::size_t complete_utf8_prefix(std::string_view text);

}  // namespace crossgpu::serve
