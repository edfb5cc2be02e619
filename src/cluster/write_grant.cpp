#include "cluster/write_grant.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/error.hpp"

namespace crossgpu::cluster {
namespace {

// Length-prefixed fields: no two different grants encode to the same bytes.
void append_field(std::string& out, const void* data, std::size_t size) {
  const std::uint64_t length = size;
  out.append(reinterpret_cast<const char*>(&length), sizeof(length));
  out.append(static_cast<const char*>(data), size);
}

void append_u64(std::string& out, std::uint64_t value) { append_field(out, &value, sizeof(value)); }

std::int64_t now_unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

GrantAuthority::GrantAuthority(std::string issuer_node_id) : issuer_(std::move(issuer_node_id)) {
  if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) {
    fail(Errc::internal, "the system random generator failed");
  }
}

std::array<unsigned char, 32> GrantAuthority::mac(const v1::WriteGrant& grant) const {
  std::string message = "crossgpu-write-grant-v1";
  append_field(message, grant.issuer_node_id().data(), grant.issuer_node_id().size());
  append_u64(message, grant.handle());
  append_u64(message, grant.offset());
  append_u64(message, grant.bytes());
  append_field(message, grant.grantee_node_id().data(), grant.grantee_node_id().size());
  append_u64(message, static_cast<std::uint64_t>(grant.expires_unix_seconds()));
  std::array<unsigned char, 32> out{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
           &length) == nullptr ||
      length != out.size()) {
    fail(Errc::internal, "HMAC-SHA256 failed");
  }
  return out;
}

v1::WriteGrant GrantAuthority::issue(std::uint64_t handle, std::uint64_t offset,
                                     std::uint64_t bytes, const std::string& grantee_node_id,
                                     std::chrono::seconds valid_for) const {
  v1::WriteGrant grant;
  grant.set_issuer_node_id(issuer_);
  grant.set_handle(handle);
  grant.set_offset(offset);
  grant.set_bytes(bytes);
  grant.set_grantee_node_id(grantee_node_id);
  grant.set_expires_unix_seconds(now_unix_seconds() + valid_for.count());
  const auto tag = mac(grant);
  grant.set_mac(tag.data(), tag.size());
  return grant;
}

void GrantAuthority::verify(const v1::WriteGrant& grant,
                            const std::string& presenter_node_id) const {
  const auto expected = mac(grant);
  if (grant.mac().size() != expected.size() ||
      CRYPTO_memcmp(grant.mac().data(), expected.data(), expected.size()) != 0) {
    fail(Errc::invalid_argument, "write grant refused: it was not issued by this node or was "
                                 "altered");
  }
  if (grant.issuer_node_id() != issuer_) {
    fail(Errc::invalid_argument, "write grant refused: issued by another node");
  }
  if (grant.grantee_node_id() != presenter_node_id) {
    fail(Errc::invalid_argument, "write grant refused: it was made out to node {}, not to {}",
         grant.grantee_node_id().substr(0, 64), presenter_node_id);
  }
  if (grant.expires_unix_seconds() < now_unix_seconds()) {
    fail(Errc::invalid_argument, "write grant refused: it expired; ask the owner for a new one");
  }
}

}  // namespace crossgpu::cluster
