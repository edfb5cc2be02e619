// libFuzzer target for the serve layer's request reader (src/serve/completion_request.hpp) and
// the text stream that holds back stop strings and split characters (src/serve/text_stream.hpp).
// The first byte picks the endpoint; the rest is the request body. A body is either read into a
// request or refused with an ApiError of status 400 or 413, never anything else; the text of an
// accepted request then goes through a TextStream with its stop strings, piece by piece, and what
// comes out must contain no stop string.
// Seeds: fuzz/corpus/completion_request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "serve/api_error.hpp"
#include "serve/completion_request.hpp"
#include "serve/text_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using namespace crossgpu::serve;
  const Endpoint endpoint = data[0] % 2 == 0 ? Endpoint::chat : Endpoint::completion;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  CompletionRequest r;
  try {
    r = parse_completion_request(endpoint, body, RequestLimits{.max_text_bytes = 4096});
  } catch (const ApiError& e) {
    if (e.status() != 400 && e.status() != 413) std::abort();
    return 0;
  }
  std::string text = r.prompt;
  for (const auto& m : r.messages) text += m.content;
  TextStream stream(r.stop);
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 3) out += stream.push(std::string_view(text).substr(i, 3));
  if (!stream.stopped()) out += stream.finish();
  for (const std::string& stop : r.stop) {
    // finish() may end the text with U+FFFD (a split character): only a stop string holding one
    // could match what was not in the text.
    if (stop.find("\xEF\xBF\xBD") == std::string::npos && out.find(stop) != std::string::npos) std::abort();
  }
  return 0;
}
