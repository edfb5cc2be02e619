// The OpenSSL 3 operations the security layer needs, behind PEM strings so no OpenSSL type
// leaks out of crypto.cpp. Keys are EC P-256; certificates X.509 v3 signed with ECDSA-SHA256.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/security.hpp"

namespace crossgpu::net::crypto {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> random_bytes(std::size_t n);
std::string hex(std::span<const std::uint8_t> bytes);
// Constant-time equality of two equally long byte strings (false when lengths differ).
bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// A fresh EC P-256 private key, PKCS#8 PEM.
std::string generate_key();

// Self-signed CA certificate for `key_pem`: CA:TRUE, pathlen 0, keyCertSign, `validity` long.
std::string make_ca_certificate(const std::string& key_pem, const std::string& cluster_name,
                                std::chrono::seconds validity);

// PKCS#10 request for `key_pem` with subject CN=node_name.
std::string make_csr(const std::string& key_pem, const std::string& node_name);

// Checks the request (signature, EC P-256 key, subject of at most one printable CN) and issues
// a node certificate: CN = node id of the request's key, O = cluster name, SAN URIs
// crossgpu:node:<id> and crossgpu:role:<role>, SAN DNS node_dns_name, client+server auth.
// Throws Errc::invalid_argument for a bad request.
std::string sign_node_csr(const std::string& ca_key_pem, const std::string& ca_cert_pem,
                          std::string_view csr_pem, Role role, std::chrono::seconds validity);

// The checks sign_node_csr makes, without signing; returns the node id the request's key gets.
std::string check_node_csr(std::string_view csr_pem);

// Node id of a public key: hex of the first 16 bytes of SHA-256 over its DER
// SubjectPublicKeyInfo. Derived from the key, so it cannot be chosen freely.
std::string node_id_of_private_key(const std::string& key_pem);

struct CertificateInfo {
  std::string node_id;  // from the SAN URI, checked against the CN and the key
  Role role = Role::monitor;
  std::string serial;  // hex
  std::string cluster_name;
};

// Reads a node certificate's identity; throws Errc::invalid_argument when it is not a well-formed
// crossgpu node certificate (missing or duplicate SAN URIs, node id not matching its key).
CertificateInfo inspect_node_certificate(std::string_view cert_pem);

// SHA-256 over the DER form of the (first) certificate in `cert_pem`.
Sha256 certificate_fingerprint(std::string_view cert_pem);

// True when `cert_pem` is signed by the CA in `ca_pem` and valid now.
bool verify_certificate(std::string_view ca_pem, std::string_view cert_pem);

// True when `key_pem` is the private key of `cert_pem`.
bool key_matches_certificate(const std::string& key_pem, std::string_view cert_pem);

// True when the certificate is a self-signed CA (the root a token's fingerprint pins).
bool is_self_signed_ca(std::string_view cert_pem);

// ECDSA-SHA256 signature (DER) of `message` with `key_pem`: how the CA signs what it publishes
// to every node besides certificates (the revocation list).
std::vector<std::uint8_t> sign_message(const std::string& key_pem,
                                       std::span<const std::uint8_t> message);

// True when `signature` is a valid ECDSA-SHA256 signature of `message` by the key of the
// (first) certificate in `cert_pem`; false for any malformed signature.
bool verify_message(std::string_view cert_pem, std::span<const std::uint8_t> message,
                    std::span<const std::uint8_t> signature);

// The certificates of a PEM bundle, in order, each re-encoded as PEM.
std::vector<std::string> split_pem_chain(std::string_view pem);

}  // namespace crossgpu::net::crypto
