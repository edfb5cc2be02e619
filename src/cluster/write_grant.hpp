// Write grants for node-to-node transfers: node B lets node A write one range of one of B's
// buffers. A grant is B's HMAC-SHA256 over (issuer, handle, offset, bytes, grantee, expiry) with a
// key that lives only in B's memory, so only B can make one, a grant cannot be widened or moved to
// another buffer or node, and every grant dies with the process that issued it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {

class GrantAuthority {
 public:
  // A fresh random key.
  explicit GrantAuthority(std::string issuer_node_id);

  v1::WriteGrant issue(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                       const std::string& grantee_node_id,
                       std::chrono::seconds valid_for = std::chrono::seconds(120)) const;

  // Throws Errc::invalid_argument unless the grant is ours, unaltered, unexpired and made out to
  // `presenter_node_id`.
  void verify(const v1::WriteGrant& grant, const std::string& presenter_node_id) const;
  // This node's id, the issuer of its grants.
  const std::string& issuer() const noexcept { return issuer_; }

 private:
  std::array<unsigned char, 32> mac(const v1::WriteGrant& grant) const;
  std::string issuer_;
  std::array<unsigned char, 32> key_{};
};

}  // namespace crossgpu::cluster
