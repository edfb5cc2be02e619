// The signed revocation list in a node's config folder (revocations.bin): loaded and verified,
// replaced only by a newer list of the same CA, written atomically so a reader never sees half.
#include "net/revocation_store.hpp"

#include <chrono>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/crypto.hpp"
#include "net/files.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view file_name = "revocations.bin";

std::span<const std::uint8_t> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// The list in `dir`, checked against `ca_pem`; version 0 when none is stored or it belongs to
// another CA (a folder that was reused for a new cluster).
SignedRevocations load_verified(const fs::path& dir, const std::string& ca_pem) {
  const fs::path path = dir / file_name;
  if (!fs::exists(path)) return {};
  // A damaged list must not silently readmit removed nodes: callers fail closed on these throws.
  SignedRevocations list;
  try {
    list =
        SignedRevocations::decode(as_bytes(read_file(path, SignedRevocations::max_encoded_bytes)));
  } catch (const Error& e) {
    fail(Errc::invalid_argument, "{} is corrupt ({}): remove it; a peer will send it again",
         path.string(), e.what());
  }
  if (list.ca_fingerprint != crypto::certificate_fingerprint(ca_pem)) return {};
  try {
    list.verify(ca_pem);
  } catch (const Error& e) {
    fail(Errc::invalid_argument, "{}: {}", path.string(), e.what());
  }
  return list;
}

}  // namespace

SignedRevocations load_signed_revocations(const fs::path& dir) {
  if (!fs::exists(dir / file_name)) return {};
  return load_verified(dir, read_file(dir / "ca.crt"));
}

RevocationUpdate accept_signed_revocations(const fs::path& dir,
                                           std::span<const std::uint8_t> bytes) {
  const SignedRevocations offered = SignedRevocations::decode(bytes);
  const std::string ca_pem = read_file(dir / "ca.crt");
  offered.verify(ca_pem);
  FolderLock lock(dir);
  const SignedRevocations held = load_verified(dir, ca_pem);
  if (offered.version <= held.version) return RevocationUpdate::not_newer;
  const std::vector<std::uint8_t> encoded = offered.encode();
  write_file_atomic(dir / file_name,
                    {reinterpret_cast<const char*>(encoded.data()), encoded.size()}, public_mode);
  log::info("revocation list version {} stored ({} removed nodes)", offered.version,
            offered.node_ids.size());
  return RevocationUpdate::stored;
}

// Called by RevocationList::revoke with the folder lock held, where the folder holds the CA.
void sign_next_revocations(const fs::path& dir, const std::vector<std::string>& more) {
  const ClusterCa ca = ClusterCa::load(dir);
  const SignedRevocations held = load_verified(dir, ca.certificate_pem());
  std::vector<std::string> ids = held.node_ids;
  ids.insert(ids.end(), more.begin(), more.end());
  // Milliseconds since the epoch when that is higher: a CA folder restored from an old backup
  // still outranks the lists it published after that backup.
  const auto now_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const SignedRevocations next =
      ca.sign_revocations(std::move(ids), std::max(held.version + 1, now_ms));
  const std::vector<std::uint8_t> encoded = next.encode();
  write_file_atomic(dir / file_name,
                    {reinterpret_cast<const char*>(encoded.data()), encoded.size()}, public_mode);
  log::info("signed revocation list version {} ({} removed nodes)", next.version,
            next.node_ids.size());
}

}  // namespace crossgpu::net
