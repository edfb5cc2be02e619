#include "serve/text_stream.hpp"

#include <algorithm>

namespace crossgpu::serve {

std::size_t complete_utf8_prefix(std::string_view text) {
  // Look back at most 3 bytes for the lead byte of the last character.
  for (std::size_t back = 1; back <= std::min<std::size_t>(4, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: keep looking
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back && c >= 0xC0 && c < 0xF8 ? text.size() - back : text.size();
  }
  return text.size();  // only continuation bytes: invalid, let them through (replaced later)
}

TextStream::TextStream(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {}

std::size_t TextStream::safe_length() const {
  // Hold back the longest tail of pending_ that is a proper prefix of some stop string.
  std::size_t held = 0;
  for (const std::string& stop : stops_) {
    for (std::size_t n = std::min(stop.size() - 1, pending_.size()); n > held; --n) {
      if (std::string_view(pending_).substr(pending_.size() - n) == std::string_view(stop).substr(0, n)) {
        held = n;
        break;
      }
    }
  }
  return complete_utf8_prefix(std::string_view(pending_).substr(0, pending_.size() - held));
}

std::string TextStream::push(std::string_view piece) {
  if (stopped_) return {};
  pending_ += piece;
  std::size_t cut = std::string::npos;
  for (const std::string& stop : stops_) cut = std::min(cut, pending_.find(stop));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  const std::size_t n = safe_length();
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  return out;
}

std::string TextStream::finish() {
  std::string out = std::move(pending_);
  pending_.clear();
  if (complete_utf8_prefix(out) != out.size()) {
    out.resize(complete_utf8_prefix(out));
    out += "\xEF\xBF\xBD";  // U+FFFD
  }
  return out;
}

}  // namespace crossgpu::serve
