// libFuzzer target: SignedRevocations::decode (src/net/revocation_codec.cpp) on arbitrary bytes,
// what a node decodes from a peer's GetRevocations answer and from its own revocations.bin.
// Any outcome but a list or Errc::invalid_argument is a bug; a decoded list must satisfy the
// invariants lookups rely on (sorted, unique, within the limits) and encode back to the same
// bytes, so exactly one encoding of each list exists for the CA's signature to cover.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/error.hpp"
#include "net/security.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using crossgpu::net::SignedRevocations;
  const std::span<const std::uint8_t> bytes(data, size);
  SignedRevocations list;
  try {
    list = SignedRevocations::decode(bytes);
  } catch (const crossgpu::Error& e) {
    if (e.code() != crossgpu::Errc::invalid_argument) std::abort();
    return 0;
  }
  const bool sane =
      list.version > 0 && list.node_ids.size() <= SignedRevocations::max_nodes &&
      std::is_sorted(list.node_ids.begin(), list.node_ids.end()) &&
      std::adjacent_find(list.node_ids.begin(), list.node_ids.end()) == list.node_ids.end() &&
      !list.signature.empty() && list.signature.size() <= SignedRevocations::max_signature_bytes;
  if (!sane) std::abort();
  for (const std::string& id : list.node_ids) {
    if (!list.contains(id)) std::abort();
  }
  const std::vector<std::uint8_t> again = list.encode();
  if (!std::equal(again.begin(), again.end(), bytes.begin(), bytes.end())) std::abort();
  return 0;
}
