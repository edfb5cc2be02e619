#include "net/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/error.hpp"

namespace crossgpu::net::crypto {
namespace {

template <auto fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    fn(p);
  }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Names = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

// Inputs larger than this are not PEM we produced; refuse before OpenSSL parses them.
constexpr std::size_t max_pem_bytes = 64 * 1024;
constexpr std::string_view node_uri_prefix = "crossgpu:node:";
constexpr std::string_view role_uri_prefix = "crossgpu:role:";

// The newest OpenSSL error as text, and the queue cleared so later calls start clean.
std::string openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "unknown OpenSSL error";
  if (code != 0) ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

[[noreturn]] void fail_openssl(std::string_view what) {
  fail(Errc::internal, "{} failed: {}", what, openssl_error());
}

Bio read_bio(std::string_view pem) {
  if (pem.size() > max_pem_bytes) fail(Errc::invalid_argument, "PEM input is too large");
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) fail_openssl("BIO_new_mem_buf");
  return bio;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Key load_key(const std::string& pem) {
  Bio bio = read_bio(pem);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail(Errc::invalid_argument, "not a PEM private key: {}", openssl_error());
  return key;
}

Cert load_cert(std::string_view pem) {
  Bio bio = read_bio(pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail(Errc::invalid_argument, "not a PEM certificate: {}", openssl_error());
  return cert;
}

std::string cert_pem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail_openssl("PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string node_id_of(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key, &der);
  if (n <= 0) fail_openssl("i2d_PUBKEY");
  const Sha256 digest = sha256({der, static_cast<std::size_t>(n)});
  OPENSSL_free(der);
  return hex(std::span(digest).first(16));
}

bool is_p256(EVP_PKEY* key) {
  char group[64] = {};
  std::size_t len = 0;
  return EVP_PKEY_is_a(key, "EC") &&
         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &len) == 1 &&
         std::string_view(group, len) == "prime256v1";
}

void set_random_serial(X509* cert) {
  // 16 random bytes with the top bit cleared: positive, unique without a counter to keep.
  std::vector<std::uint8_t> bytes = random_bytes(16);
  bytes[0] &= 0x7f;
  Bignum bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) fail_openssl("serial");
}

void set_validity(X509* cert, std::chrono::seconds validity) {
  // Five minutes of slack for clocks that differ between devices.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -300) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(validity.count()))) {
    fail_openssl("X509_gmtime_adj");
  }
}

void add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
  if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(value.data()),
                                  static_cast<int>(value.size()), -1, 0)) {
    fail(Errc::invalid_argument, "invalid certificate name field {}: {}", field, openssl_error());
  }
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail_openssl("X509V3_EXT_conf_nid");
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) fail_openssl("X509_add_ext");
}

// One name entry's text, or "" when absent; duplicates of the entry are refused.
std::string name_entry(X509_NAME* name, int nid) {
  const int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  if (X509_NAME_get_index_by_NID(name, nid, index) >= 0) {
    fail(Errc::invalid_argument, "certificate name has a duplicated field");
  }
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

bool printable(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  }
  return true;
}

Req parse_csr(std::string_view csr_pem) {
  Bio bio = read_bio(csr_pem);
  Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) fail(Errc::invalid_argument, "the certificate request is not valid PEM PKCS#10");
  return req;
}

// Refuses requests we would not produce ourselves: a forged signature, another key type, or a
// subject with anything but one short printable CN.
void validate_csr(X509_REQ* req) {
  EVP_PKEY* key = X509_REQ_get0_pubkey(req);
  if (!key || !is_p256(key)) {
    ERR_clear_error();
    fail(Errc::invalid_argument, "the certificate request must carry an EC P-256 key");
  }
  if (X509_REQ_verify(req, key) != 1) {
    ERR_clear_error();
    fail(Errc::invalid_argument, "the certificate request's signature does not verify");
  }
  X509_NAME* subject = X509_REQ_get_subject_name(req);
  const int entries = X509_NAME_entry_count(subject);
  const std::string cn = name_entry(subject, NID_commonName);
  if (entries > 1 || cn.size() > 64 || !printable(cn)) {
    fail(Errc::invalid_argument,
         "the certificate request's subject must be a single printable CN of at most 64 bytes");
  }
}

std::vector<std::string> san_uris(X509* cert, bool& has_node_dns) {
  Names names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> uris;
  has_node_dns = false;
  if (!names) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI && name->type != GEN_DNS) continue;
    const ASN1_STRING* s =
        name->type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
    std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (name->type == GEN_DNS) {
      has_node_dns |= text == node_dns_name;
    } else {
      uris.push_back(std::move(text));
    }
  }
  return uris;
}

// The one SAN URI with `prefix`, without the prefix; refused when missing or repeated.
std::string unique_uri(const std::vector<std::string>& uris, std::string_view prefix) {
  std::string found;
  int count = 0;
  for (const std::string& uri : uris) {
    if (uri.starts_with(prefix)) {
      found = uri.substr(prefix.size());
      ++count;
    }
  }
  if (count != 1) {
    fail(Errc::invalid_argument, "not a crossgpu node certificate: it needs exactly one '{}' URI",
         prefix);
  }
  return found;
}

std::string serial_hex(X509* cert) {
  Bignum bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) fail_openssl("ASN1_INTEGER_to_BN");
  char* text = BN_bn2hex(bn.get());
  if (!text) fail_openssl("BN_bn2hex");
  std::string out(text);
  OPENSSL_free(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Sha256 sha256(std::span<const std::uint8_t> bytes) {
  Sha256 digest{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
    fail_openssl("SHA-256");
  }
  return digest;
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) fail_openssl("RAND_bytes");
  return bytes;
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string generate_key() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) fail_openssl("EC P-256 key generation");
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail_openssl("PEM_write_bio_PrivateKey");
  }
  return bio_text(bio.get());
}

std::string make_ca_certificate(const std::string& key_pem, const std::string& cluster_name,
                                std::chrono::seconds validity) {
  Key key = load_key(key_pem);
  Cert cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) fail_openssl("X509_new");
  set_random_serial(cert.get());
  set_validity(cert.get(), validity);
  X509_NAME* name = X509_get_subject_name(cert.get());
  add_name_entry(name, "O", cluster_name);
  add_name_entry(name, "CN", "crossgpu cluster CA");
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) fail_openssl("X509_sign");
  return cert_pem(cert.get());
}

std::string make_csr(const std::string& key_pem, const std::string& node_name) {
  Key key = load_key(key_pem);
  Req req(X509_REQ_new());
  if (!req || !X509_REQ_set_version(req.get(), 0)) fail_openssl("X509_REQ_new");
  add_name_entry(X509_REQ_get_subject_name(req.get()), "CN", node_name);
  if (!X509_REQ_set_pubkey(req.get(), key.get()) ||
      !X509_REQ_sign(req.get(), key.get(), EVP_sha256())) {
    fail_openssl("X509_REQ_sign");
  }
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1)
    fail_openssl("PEM_write_bio_X509_REQ");
  return bio_text(bio.get());
}

std::string sign_node_csr(const std::string& ca_key_pem, const std::string& ca_cert_pem,
                          std::string_view csr_pem, Role role, std::chrono::seconds validity) {
  Req req = parse_csr(csr_pem);
  validate_csr(req.get());
  Key ca_key = load_key(ca_key_pem);
  Cert ca = load_cert(ca_cert_pem);
  EVP_PKEY* node_key = X509_REQ_get0_pubkey(req.get());
  const std::string node_id = node_id_of(node_key);

  Cert cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) fail_openssl("X509_new");
  set_random_serial(cert.get());
  set_validity(cert.get(), validity);
  X509_NAME* name = X509_get_subject_name(cert.get());
  add_name_entry(name, "O", name_entry(X509_get_subject_name(ca.get()), NID_organizationName));
  add_name_entry(name, "CN", node_id);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  X509_set_pubkey(cert.get(), node_key);
  add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_extension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  add_extension(cert.get(), ca.get(), NID_subject_alt_name,
                fmt::format("URI:{}{},URI:{}{},DNS:{}", node_uri_prefix, node_id, role_uri_prefix,
                            to_string(role), node_dns_name));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) fail_openssl("X509_sign");
  return cert_pem(cert.get());
}

std::string check_node_csr(std::string_view csr_pem) {
  Req req = parse_csr(csr_pem);
  validate_csr(req.get());
  return node_id_of(X509_REQ_get0_pubkey(req.get()));
}

std::string node_id_of_private_key(const std::string& key_pem) {
  Key key = load_key(key_pem);
  return node_id_of(key.get());
}

CertificateInfo inspect_node_certificate(std::string_view pem) {
  Cert cert = load_cert(pem);
  bool has_node_dns = false;
  const std::vector<std::string> uris = san_uris(cert.get(), has_node_dns);
  CertificateInfo info;
  info.node_id = unique_uri(uris, node_uri_prefix);
  info.role = parse_role(unique_uri(uris, role_uri_prefix));
  X509_NAME* subject = X509_get_subject_name(cert.get());
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  // The id is bound to the key: a CA bug or a hand-made certificate cannot claim another id.
  if (!key || info.node_id != node_id_of(key) ||
      name_entry(subject, NID_commonName) != info.node_id) {
    fail(Errc::invalid_argument, "node certificate's id does not match its key");
  }
  info.serial = serial_hex(cert.get());
  info.cluster_name = name_entry(subject, NID_organizationName);
  return info;
}

Sha256 certificate_fingerprint(std::string_view pem) {
  Cert cert = load_cert(pem);
  Sha256 digest{};
  unsigned int len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest.data(), &len) != 1) fail_openssl("X509_digest");
  return digest;
}

bool verify_certificate(std::string_view ca_pem, std::string_view pem) {
  Cert ca = load_cert(ca_pem);
  Cert cert = load_cert(pem);
  Store store(X509_STORE_new());
  StoreCtx ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    fail_openssl("X509_STORE setup");
  }
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  return ok;
}

bool key_matches_certificate(const std::string& key_pem, std::string_view pem) {
  Key key = load_key(key_pem);
  Cert cert = load_cert(pem);
  const bool ok = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

bool is_self_signed_ca(std::string_view pem) {
  Cert cert = load_cert(pem);
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  const bool ok = key && X509_check_ca(cert.get()) >= 1 &&
                  X509_check_issued(cert.get(), cert.get()) == X509_V_OK &&
                  X509_verify(cert.get(), key) == 1;
  ERR_clear_error();
  return ok;
}

std::vector<std::uint8_t> sign_message(const std::string& key_pem,
                                       std::span<const std::uint8_t> message) {
  Key key = load_key(key_pem);
  std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
    fail_openssl("EVP_DigestSign");
  }
  std::vector<std::uint8_t> signature(len);
  if (EVP_DigestSign(ctx.get(), signature.data(), &len, message.data(), message.size()) != 1) {
    fail_openssl("EVP_DigestSign");
  }
  signature.resize(len);  // DER length varies with the leading bits of r and s
  return signature;
}

bool verify_message(std::string_view cert_pem, std::span<const std::uint8_t> message,
                    std::span<const std::uint8_t> signature) {
  Cert cert = load_cert(cert_pem);
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    fail_openssl("EVP_DigestVerifyInit");
  }
  const bool ok = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                   message.size()) == 1;
  ERR_clear_error();  // a malformed signature leaves a decoding error queued
  return ok;
}

std::vector<std::string> split_pem_chain(std::string_view pem) {
  Bio bio = read_bio(pem);
  std::vector<std::string> out;
  while (Cert cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    out.push_back(cert_pem(cert.get()));
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  return out;
}

}  // namespace crossgpu::net::crypto
