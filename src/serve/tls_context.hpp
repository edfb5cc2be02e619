// The certificate and key `crossgpu serve --tls-cert/--tls-key` answers HTTPS with: PEM files (the
// certificate may carry its chain; the cluster's node.crt and node.key from a config folder work,
// clients then trust the cluster's ca.crt). Checked when loaded, so that a wrong file stops the
// server at start with a message naming it, never at a client's first handshake.
#pragma once

#include <string>

namespace crossgpu::serve {

class TlsContext {
 public:
  // Throws Errc::not_found for a file that does not exist, Errc::io for one that cannot be read,
  // Errc::invalid_argument for a file that is no PEM certificate (chain) or private key, or a key
  // that does not match the certificate.
  TlsContext(const std::string& cert_file, const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  void* native() const noexcept { return ctx_; }  // SSL_CTX*

 private:
  void* ctx_ = nullptr;
};

}  // namespace crossgpu::serve
