// One mapping between crossgpu's typed errors and gRPC statuses, used by servers and clients.
// The status message is "errc=<n> <text>" (proto ErrorDetail), so a client gets back the exact
// Errc even where two codes share one gRPC status code.
#pragma once

#include <grpcpp/support/status.h>

#include <string_view>

#include "core/error.hpp"

namespace crossgpu::net {

grpc::StatusCode grpc_code(Errc code) noexcept;

grpc::Status to_status(Errc code, std::string_view message);
grpc::Status to_status(const Error& error);

// The Errc carried in an "errc=<n> " prefix, else one derived from the gRPC code (a refusal by
// gRPC itself, a deadline, an unreachable peer). The message loses the prefix.
Error to_error(const grpc::Status& status);

// Throws to_error(status) unless status is OK. `what` names the call for the message.
void throw_if_failed(const grpc::Status& status, std::string_view what);

}  // namespace crossgpu::net
