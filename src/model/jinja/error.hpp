// Errors and limits of the Jinja engine. Chat templates come from downloaded model files, so a
// template is untrusted input: every failure is a TemplateError that says where (line and column
// of the template) and what kind of fault it was, and rendering stops at fixed limits instead of
// running out of memory, stack or time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace crossgpu::model::jinja {

enum class TemplateErrc {
  syntax,     // the template does not parse (unterminated tag, unexpected token, unknown tag)
  undefined,  // an undefined value was used where a value is needed (called, iterated, added)
  type,       // an operation on values of the wrong type, or an unknown filter/test/method
  raised,     // the template called raise_exception(message)
  limit,      // output size, step count, nesting depth or call depth ran past its limit
};

std::string_view template_errc_name(TemplateErrc code) noexcept;

// Where in the template source (1-based; 0 when not known).
struct SourcePos {
  int line = 0;
  int column = 0;
};

class TemplateError : public Error {
 public:
  TemplateError(TemplateErrc kind, SourcePos pos, const std::string& what);
  TemplateErrc kind() const noexcept { return kind_; }
  SourcePos pos() const noexcept { return pos_; }
  // The message without the position prefix (raise_exception's text for `raised`).
  const std::string& detail() const noexcept { return detail_; }

 private:
  TemplateErrc kind_;
  SourcePos pos_;
  std::string detail_;
};

[[noreturn]] void throw_template_error(TemplateErrc kind, SourcePos pos, const std::string& what);

struct Limits {
  std::size_t max_output_bytes = 16u << 20;  // rendered text
  std::size_t max_steps = 5'000'000;         // statements, expressions and loop iterations
  int max_nesting = 128;                     // nested blocks and expressions in the source
  int max_call_depth = 64;                   // macro calls inside macro calls
  std::size_t max_source_bytes = 1u << 20;   // template source
};

}  // namespace crossgpu::model::jinja
