// Signing and verifying the cluster-wide revocation list with the cluster CA's key.
#include <algorithm>

#include "core/error.hpp"
#include "net/crypto.hpp"
#include "net/security.hpp"

namespace crossgpu::net {

void SignedRevocations::verify(std::string_view ca_pem) const {
  // The fingerprint check only gives a clearer message; the signature is what decides.
  if (ca_fingerprint != crypto::certificate_fingerprint(ca_pem)) {
    fail(Errc::permission_denied,
         "revocation list version {} was made by another cluster's CA; ignored", version);
  }
  if (!crypto::verify_message(ca_pem, signed_bytes(), signature)) {
    fail(Errc::permission_denied,
         "revocation list version {} is not signed by this cluster's CA (tampered or forged); "
         "ignored",
         version);
  }
}

SignedRevocations ClusterCa::sign_revocations(std::vector<std::string> node_ids,
                                              std::uint64_t version) const {
  std::sort(node_ids.begin(), node_ids.end());
  node_ids.erase(std::unique(node_ids.begin(), node_ids.end()), node_ids.end());
  SignedRevocations list;
  list.ca_fingerprint = fingerprint();
  list.version = version;
  list.node_ids = std::move(node_ids);
  list.signature = crypto::sign_message(key_pem_, list.signed_bytes());
  return list;
}

}  // namespace crossgpu::net
