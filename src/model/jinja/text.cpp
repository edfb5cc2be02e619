#include "model/jinja/text.hpp"

#include <algorithm>
#include <cctype>

namespace crossgpu::model::jinja::text {

namespace {
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // a stray byte counts as one character, so nothing is ever lost
}
}  // namespace

std::vector<std::string> code_points(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::size_t length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    i += std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
  }
  return n;
}

bool is_space(std::string_view c) {
  if (c.size() == 1) {
    const unsigned char b = static_cast<unsigned char>(c[0]);
    return (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x20);
  }
  static const char* const wide[] = {"\u0085", "\u00A0", "\u1680", "\u2000", "\u2001", "\u2002",
                                     "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008",
                                     "\u2009", "\u200A", "\u2028", "\u2029", "\u202F", "\u205F",
                                     "\u3000"};
  return std::any_of(std::begin(wide), std::end(wide), [&](const char* w) { return c == w; });
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, Side side) {
  const std::vector<std::string> cps = code_points(s);
  const std::vector<std::string> set = chars ? code_points(*chars) : std::vector<std::string>{};
  const auto removable = [&](const std::string& c) {
    return chars ? std::find(set.begin(), set.end(), c) != set.end() : is_space(c);
  };
  std::size_t begin = 0, end = cps.size();
  if (side != Side::right) {
    while (begin < end && removable(cps[begin])) ++begin;
  }
  if (side != Side::left) {
    while (end > begin && removable(cps[end - 1])) --end;
  }
  std::string out;
  for (std::size_t i = begin; i < end; ++i) out += cps[i];
  return out;
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, long maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    std::size_t start = 0;
    while (maxsplit < 0 || static_cast<long>(out.size()) < maxsplit) {
      const std::size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  const std::vector<std::string> cps = code_points(s);
  std::size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && is_space(cps[i])) ++i;
    if (i == cps.size()) break;
    std::string part;
    if (maxsplit >= 0 && static_cast<long>(out.size()) == maxsplit) {
      // The rest, with its trailing whitespace removed, as Python does.
      for (; i < cps.size(); ++i) part += cps[i];
      out.push_back(strip(part, std::nullopt, Side::right));
      break;
    }
    while (i < cps.size() && !is_space(cps[i])) part += cps[i++];
    out.push_back(std::move(part));
  }
  return out;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, long count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every character and at both ends.
    long n = 0;
    for (const std::string& c : code_points(s)) {
      if (count < 0 || n < count) out += to, ++n;
      out += c;
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  std::size_t start = 0;
  long n = 0;
  while (count < 0 || n < count) {
    const std::size_t at = s.find(from, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start)).append(to);
    start = at + from.size();
    ++n;
  }
  return out.append(s.substr(start));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string title(std::string_view s) {
  std::string out(s);
  bool start = true;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = !std::isalpha(u);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out = lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

}  // namespace crossgpu::model::jinja::text
