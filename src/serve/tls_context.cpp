#include "serve/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace crossgpu::serve {
namespace {

// OpenSSL's last error as text (its queue emptied), for a message about `file`.
std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no reason given";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

void check_readable(const std::string& file, const char* what) {
  if (file.empty()) fail(Errc::invalid_argument, "HTTPS needs both --tls-cert and --tls-key (the {} is missing)", what);
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) fail(Errc::not_found, "TLS {} {}: no such file", what, file);
  if (!std::ifstream(file).good()) fail(Errc::io, "TLS {} {}: cannot be read", what, file);
}

// The private key in `file`; Errc::invalid_argument when it holds none.
EVP_PKEY* read_key(const std::string& file) {
  BIO* bio = BIO_new_file(file.c_str(), "r");
  EVP_PKEY* key = bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) fail(Errc::invalid_argument, "TLS key {} is not a PEM private key: {}", file, openssl_reason());
  return key;
}

}  // namespace

TlsContext::TlsContext(const std::string& cert_file, const std::string& key_file) {
  check_readable(cert_file, "certificate");
  check_readable(key_file, "key");
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) fail(Errc::internal, "cannot create a TLS context: {}", openssl_reason());
  ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The constructor may throw from here on: the destructor would not run.
  try {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
      fail(Errc::invalid_argument, "TLS certificate {} is not a PEM certificate: {}", cert_file, openssl_reason());
    }
    EVP_PKEY* key = read_key(key_file);
    const bool matches = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!matches) {
      fail(Errc::invalid_argument, "TLS key {} does not belong to the certificate {}: {}", key_file, cert_file,
           openssl_reason());
    }
  } catch (...) {
    SSL_CTX_free(ctx);
    ctx_ = nullptr;
    throw;
  }
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

}  // namespace crossgpu::serve
