// Python's str methods over UTF-8 text, as the chat templates call them: code points for length
// and slicing, Python's whitespace for strip() and split(). Case mapping covers ASCII only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::model::jinja::text {

std::vector<std::string> code_points(std::string_view s);  // each one's UTF-8 bytes
std::size_t length(std::string_view s);                    // in code points
bool is_space(std::string_view code_point);                // str.isspace() of one code point

enum class Side { both, left, right };
// str.strip(chars): chars nullopt strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, Side side);
// str.split(sep, maxsplit): sep nullopt splits on whitespace runs and drops empty parts.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, long maxsplit);
std::string replace(std::string_view s, std::string_view from, std::string_view to, long count);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);
std::string capitalize(std::string_view s);

}  // namespace crossgpu::model::jinja::text
