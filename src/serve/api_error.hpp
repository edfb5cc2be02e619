// An error the API answers with, shaped as OpenAI's clients expect:
// {"error": {"message", "type", "param", "code"}} with the matching HTTP status.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace crossgpu::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, std::string code, std::string message, std::string param = {})
      : std::runtime_error(std::move(message)),
        status_(status),
        type_(std::move(type)),
        code_(std::move(code)),
        param_(std::move(param)) {}
  int status() const noexcept { return status_; }
  const std::string& type() const noexcept { return type_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& param() const noexcept { return param_; }

 private:
  int status_;
  std::string type_, code_, param_;
};

// A 400 invalid_request_error about the request field `param`.
[[noreturn]] void bad_request(const std::string& param, const std::string& message);

nlohmann::json error_json(const ApiError& error);

}  // namespace crossgpu::serve
