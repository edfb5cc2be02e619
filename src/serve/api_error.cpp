#include "serve/api_error.hpp"

namespace crossgpu::serve {

void bad_request(const std::string& param, const std::string& message) {
  throw ApiError(400, "invalid_request_error", "invalid_value", message, param);
}

nlohmann::json error_json(const ApiError& error) {
  nlohmann::json e = {{"message", error.what()}, {"type", error.type()}, {"code", error.code()}};
  e["param"] = error.param().empty() ? nlohmann::json(nullptr) : nlohmann::json(error.param());
  return {{"error", e}};
}

}  // namespace crossgpu::serve
