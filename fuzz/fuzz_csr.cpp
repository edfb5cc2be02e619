// libFuzzer target: the enrollment server's check of a joiner's certificate request
// (crypto::check_node_csr), the one piece of PKI input an unauthenticated caller controls.
// Refusals must be Errc::invalid_argument; nothing may crash or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.hpp"
#include "net/crypto.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    crossgpu::net::crypto::check_node_csr(text);
  } catch (const crossgpu::Error& e) {
    if (e.code() != crossgpu::Errc::invalid_argument) std::abort();
  }
  return 0;
}
