#include "net/status.hpp"

#include <charconv>
#include <string>

namespace crossgpu::net {
namespace {

constexpr std::string_view errc_prefix = "errc=";

Errc errc_from_grpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Errc::invalid_argument;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Errc::permission_denied;
    case grpc::StatusCode::OUT_OF_RANGE:
      return Errc::out_of_range;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Errc::out_of_memory;
    case grpc::StatusCode::UNIMPLEMENTED:
      return Errc::unsupported;
    case grpc::StatusCode::NOT_FOUND:
      return Errc::not_found;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Errc::timeout;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
      return Errc::io;
    default:
      return Errc::internal;
  }
}

}  // namespace

grpc::StatusCode grpc_code(Errc code) noexcept {
  switch (code) {
    case Errc::ok:
      return grpc::StatusCode::OK;
    case Errc::invalid_argument:
    case Errc::wrong_device:
    case Errc::misaligned:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Errc::out_of_range:
      return grpc::StatusCode::OUT_OF_RANGE;
    case Errc::out_of_memory:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Errc::unsupported:
      return grpc::StatusCode::UNIMPLEMENTED;
    case Errc::not_found:
    case Errc::freed_handle:
      return grpc::StatusCode::NOT_FOUND;
    case Errc::timeout:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Errc::device_lost:
    case Errc::io:
      return grpc::StatusCode::UNAVAILABLE;
    case Errc::backend_failure:
    case Errc::internal:
      return grpc::StatusCode::INTERNAL;
    case Errc::permission_denied:
      return grpc::StatusCode::PERMISSION_DENIED;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status to_status(Errc code, std::string_view message) {
  if (code == Errc::ok) return grpc::Status::OK;
  return grpc::Status(grpc_code(code),
                      fmt::format("{}{} {}", errc_prefix, static_cast<int>(code), message));
}

grpc::Status to_status(const Error& error) { return to_status(error.code(), error.what()); }

Error to_error(const grpc::Status& status) {
  const std::string& text = status.error_message();
  if (text.starts_with(errc_prefix)) {
    int value = 0;
    const char* begin = text.data() + errc_prefix.size();
    const char* end = text.data() + text.size();
    auto [next, ec] = std::from_chars(begin, end, value);
    // Only codes this build knows; a newer peer's code falls back to the gRPC mapping.
    if (ec == std::errc{} && next != end && *next == ' ' && value > 0 &&
        value <= static_cast<int>(last_errc)) {
      return Error(static_cast<Errc>(value), std::string(next + 1, end));
    }
  }
  return Error(errc_from_grpc(status.error_code()), text);
}

void throw_if_failed(const grpc::Status& status, std::string_view what) {
  if (status.ok()) return;
  Error error = to_error(status);
  throw Error(error.code(), fmt::format("{}: {}", what, error.what()));
}

}  // namespace crossgpu::net
