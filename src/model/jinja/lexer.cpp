#include "model/jinja/lexer.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "model/unicode.hpp"

namespace crossgpu::model::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class Lexer {
 public:
  Lexer(std::string_view src, const LexOptions& options) : src_(src), options_(options) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    std::size_t i = 0;
    while (true) {
      const std::size_t tag = next_tag(i);
      std::string text(src_.substr(i, (tag == npos ? src_.size() : tag) - i));
      apply_pending_strip(text);
      if (tag == npos) {
        emit_text(std::move(text), i);
        break;
      }
      const char kind = src_[tag + 1];
      const char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (modifier == '-') {
        rstrip_all(text);
      } else if (kind != '{' && modifier != '+' && options_.lstrip_blocks) {
        lstrip_line(text, i);
      }
      emit_text(std::move(text), i);
      i = kind == '#' ? comment(tag) : tag_tokens(tag, kind);
    }
    tokens_.push_back({Tok::end, "", pos_of(src_.size())});
    return std::move(tokens_);
  }

 private:
  static constexpr std::size_t npos = std::string_view::npos;

  SourcePos pos_of(std::size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
    return {static_cast<int>(it - line_starts_.begin()) + 1, static_cast<int>(offset - *it) + 1};
  }

  [[noreturn]] void error(std::size_t offset, const std::string& what) const {
    throw_template_error(TemplateErrc::syntax, pos_of(offset), what);
  }

  std::size_t next_tag(std::size_t from) const {
    for (std::size_t i = src_.find('{', from); i != npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return npos;
  }

  void apply_pending_strip(std::string& text) {
    if (strip_next_) {
      std::size_t n = 0;
      while (n < text.size() && is_ws(text[n])) ++n;
      text.erase(0, n);
    } else if (trim_next_) {
      if (text.starts_with("\r\n")) {
        text.erase(0, 2);
      } else if (text.starts_with("\n")) {
        text.erase(0, 1);
      }
    }
    strip_next_ = trim_next_ = false;
  }

  static void rstrip_all(std::string& text) {
    while (!text.empty() && is_ws(text.back())) text.pop_back();
  }

  // lstrip_blocks: only when nothing but spaces and tabs stand between the line start and the tag.
  void lstrip_line(std::string& text, std::size_t text_start) const {
    std::size_t n = text.size();
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t')) --n;
    const bool at_line_start = n > 0 ? text[n - 1] == '\n' : (text_start == 0 || src_[text_start - 1] == '\n');
    if (at_line_start) text.resize(n);
  }

  void emit_text(std::string text, std::size_t offset) {
    if (!text.empty()) tokens_.push_back({Tok::text, std::move(text), pos_of(offset)});
  }

  std::size_t comment(std::size_t tag) {
    const std::size_t end = src_.find("#}", tag + 2);
    if (end == npos) error(tag, "unterminated comment: '{#' without '#}'");
    const bool strip = end > tag + 2 && src_[end - 1] == '-';
    const bool keep = end > tag + 2 && src_[end - 1] == '+';
    strip_next_ = strip;
    trim_next_ = !strip && !keep && options_.trim_blocks;
    return end + 2;
  }

  // The tokens of one {{ }} or {% %} tag; returns the offset after it.
  std::size_t tag_tokens(std::size_t tag, char kind) {
    const bool statement = kind == '%';
    const char close = statement ? '%' : '}';
    tokens_.push_back({statement ? Tok::stmt_open : Tok::expr_open, "", pos_of(tag)});
    const std::size_t first_token = tokens_.size();
    std::size_t i = tag + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    int depth = 0;
    while (true) {
      while (i < src_.size() && is_ws(src_[i])) ++i;
      if (i >= src_.size()) {
        error(tag, statement ? "unterminated tag: '{%' without '%}'" : "unterminated expression: '{{' without '}}'");
      }
      if (depth == 0) {
        const std::size_t end = close_at(i, close);
        if (end != npos) {
          tokens_.push_back({statement ? Tok::stmt_close : Tok::expr_close, "", pos_of(i)});
          strip_next_ = src_[i] == '-';
          trim_next_ = statement && src_[i] != '+' && !strip_next_ && options_.trim_blocks;
          if (statement && is_raw(first_token)) return raw_block(end, tag);
          return end;
        }
      }
      i = one_token(i, depth);
    }
  }

  // "%}" / "-%}" / "+%}" (or the "}}" forms) at i: the offset after it, else npos.
  std::size_t close_at(std::size_t i, char close) const {
    if (i >= src_.size()) return npos;
    std::size_t j = i;
    if (src_[j] == '-' || src_[j] == '+') ++j;
    if (j + 1 < src_.size() && src_[j] == close && src_[j + 1] == '}') return j + 2;
    return npos;
  }

  bool is_raw(std::size_t first_token) const {
    return tokens_.size() == first_token + 2 && tokens_[first_token].type == Tok::name &&
           tokens_[first_token].value == "raw";
  }

  // {% raw %}: everything up to {% endraw %} is text.
  std::size_t raw_block(std::size_t from, std::size_t tag) {
    tokens_.resize(tokens_.size() - 3);  // stmt_open, raw, stmt_close
    for (std::size_t i = src_.find("{%", from); i != npos; i = src_.find("{%", i + 2)) {
      std::size_t j = i + 2;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) ++j;
      while (j < src_.size() && is_ws(src_[j])) ++j;
      if (src_.substr(j, 6) != "endraw") continue;
      j += 6;
      while (j < src_.size() && is_ws(src_[j])) ++j;
      const std::size_t end = close_at(j, '%');
      if (end == npos) continue;
      std::string text(src_.substr(from, i - from));
      apply_pending_strip(text);
      if (i + 2 < src_.size() && src_[i + 2] == '-') rstrip_all(text);
      emit_text(std::move(text), from);
      strip_next_ = src_[j] == '-';
      trim_next_ = !strip_next_ && src_[j] != '+' && options_.trim_blocks;
      return end;
    }
    error(tag, "unterminated raw block: '{% raw %}' without '{% endraw %}'");
  }

  std::size_t one_token(std::size_t i, int& depth) {
    const char c = src_[i];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) ++j;
      tokens_.push_back({Tok::name, std::string(src_.substr(i, j - i)), pos_of(i)});
      return j;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return number(i);
    if (c == '\'' || c == '"') return string_literal(i);
    static constexpr std::array<std::string_view, 25> ops = {
        "**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "|", ".", ",",
        ":", "(", ")", "[", "]", "{", "}"};
    for (std::string_view op : ops) {
      if (src_.substr(i, op.size()) != op) continue;
      if (op == "(" || op == "[" || op == "{") ++depth;
      if (op == ")" || op == "]" || op == "}") {
        if (depth == 0) error(i, "unbalanced '" + std::string(op) + "'");
        --depth;
      }
      tokens_.push_back({Tok::op, std::string(op), pos_of(i)});
      return i + op.size();
    }
    error(i, "unexpected character '" + std::string(1, c) + "' in a tag");
  }

  std::size_t number(std::size_t i) {
    std::size_t j = i;
    const auto digits = [&] {
      while (j < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) ++j;
    };
    digits();
    bool floating = false;
    const bool after_dot = !tokens_.empty() && tokens_.back().type == Tok::op && tokens_.back().value == ".";
    if (!after_dot && j + 1 < src_.size() && src_[j] == '.' && std::isdigit(static_cast<unsigned char>(src_[j + 1]))) {
      ++j;
      digits();
      floating = true;
    }
    if (!after_dot && j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
      std::size_t k = j + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
        j = k;
        digits();
        floating = true;
      }
    }
    std::string text;
    for (char ch : src_.substr(i, j - i)) {
      if (ch != '_') text += ch;
    }
    tokens_.push_back({floating ? Tok::floating : Tok::integer, std::move(text), pos_of(i)});
    return j;
  }

  std::size_t string_literal(std::size_t i) {
    const char quote = src_[i];
    std::string out;
    std::size_t j = i + 1;
    while (true) {
      if (j >= src_.size()) error(i, "unterminated string literal");
      const char c = src_[j];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        ++j;
        continue;
      }
      if (j + 1 >= src_.size()) error(i, "unterminated string literal");
      j = escape(j + 1, out);
    }
    tokens_.push_back({Tok::string, std::move(out), pos_of(i)});
    return j + 1;
  }

  // Python's escapes (what Jinja2 applies to string literals); an unknown one stays as written.
  std::size_t escape(std::size_t j, std::string& out) {
    const char e = src_[j];
    switch (e) {
      case 'n': out += '\n'; return j + 1;
      case 't': out += '\t'; return j + 1;
      case 'r': out += '\r'; return j + 1;
      case 'b': out += '\b'; return j + 1;
      case 'f': out += '\f'; return j + 1;
      case 'v': out += '\v'; return j + 1;
      case 'a': out += '\a'; return j + 1;
      case '\\': out += '\\'; return j + 1;
      case '\'': out += '\''; return j + 1;
      case '"': out += '"'; return j + 1;
      case '\n': return j + 1;
      case 'x':
      case 'u':
      case 'U': {
        const std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        std::uint32_t cp = 0;
        for (std::size_t k = 1; k <= n; ++k) {
          const char h = j + k < src_.size() ? src_[j + k] : '\0';
          if (!std::isxdigit(static_cast<unsigned char>(h))) error(j - 1, "truncated \\" + std::string(1, e) + " escape");
          cp = cp * 16 + static_cast<std::uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        if (cp > 0x10FFFF) error(j - 1, "escape beyond U+10FFFF");
        unicode::append_utf8(out, static_cast<char32_t>(cp));
        return j + n + 1;
      }
      default:
        if (e >= '0' && e <= '7') {
          std::uint32_t cp = 0;
          std::size_t k = j;
          while (k < src_.size() && k < j + 3 && src_[k] >= '0' && src_[k] <= '7') cp = cp * 8 + static_cast<std::uint32_t>(src_[k++] - '0');
          unicode::append_utf8(out, static_cast<char32_t>(cp));
          return k;
        }
        out += '\\';
        return j;  // the character itself is read as ordinary text next
    }
  }

  std::string_view src_;
  LexOptions options_;
  std::vector<std::size_t> line_starts_;
  std::vector<Token> tokens_;
  bool strip_next_ = false;
  bool trim_next_ = false;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& options, const Limits& limits) {
  if (source.size() > limits.max_source_bytes) {
    throw_template_error(TemplateErrc::limit, {}, fmt::format("the template has {} bytes, more than the limit of {}",
                                                              source.size(), limits.max_source_bytes));
  }
  if (!options.keep_trailing_newline && source.ends_with('\n')) {
    source.remove_suffix(source.ends_with("\r\n") ? 2 : 1);
  }
  return Lexer(source, options).run();
}

}  // namespace crossgpu::model::jinja
