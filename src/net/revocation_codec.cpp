// The byte layout of a signed revocation list (docs/PROTOCOL.md). A fixed binary layout rather
// than protobuf or JSON: the signature must cover exactly one encoding, and a strict decoder with
// no optional parts leaves nothing for a forger to vary. Depends on nothing but core, so the
// fuzz target links it alone.
#include <algorithm>

#include "core/error.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace {

constexpr std::array<std::uint8_t, 4> magic{'C', 'G', 'R', 'V'};
constexpr std::uint8_t format_version = 1;
constexpr std::size_t id_bytes = 16;  // a node id is 32 hex digits: 16 bytes on the wire

void put_be(std::vector<std::uint8_t>& out, std::uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void put_node_id(std::vector<std::uint8_t>& out, const std::string& id) {
  if (id.size() != 2 * id_bytes)
    fail(Errc::invalid_argument, "node id '{}' is not 32 hex digits", id);
  for (std::size_t i = 0; i < id.size(); i += 2) {
    const int high = hex_value(id[i]);
    const int low = hex_value(id[i + 1]);
    if (high < 0 || low < 0) {
      fail(Errc::invalid_argument, "node id '{}' is not 32 lowercase hex digits", id);
    }
    out.push_back(static_cast<std::uint8_t>(high << 4 | low));
  }
}

// Reads big-endian fields from untrusted bytes, failing with the name of the field that is cut.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  std::span<const std::uint8_t> take(std::size_t n, const char* what) {
    if (bytes_.size() - pos_ < n) {
      fail(Errc::invalid_argument, "revocation list is truncated: {} is cut off at byte {}", what,
           bytes_.size());
    }
    const auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::uint64_t be(std::size_t n, const char* what) {
    std::uint64_t value = 0;
    for (std::uint8_t byte : take(n, what)) value = value << 8 | byte;
    return value;
  }
  std::size_t left() const noexcept { return bytes_.size() - pos_; }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

std::string hex_id(std::span<const std::uint8_t> raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t byte : raw) {
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 15]);
  }
  return out;
}

}  // namespace

std::vector<std::uint8_t> SignedRevocations::signed_bytes() const {
  if (node_ids.size() > max_nodes) {
    fail(Errc::invalid_argument, "a revocation list holds at most {} nodes", max_nodes);
  }
  if (!std::is_sorted(node_ids.begin(), node_ids.end()) ||
      std::adjacent_find(node_ids.begin(), node_ids.end()) != node_ids.end()) {
    fail(Errc::invalid_argument, "revocation list node ids must be sorted and unique");
  }
  std::vector<std::uint8_t> out(magic.begin(), magic.end());
  out.push_back(format_version);
  out.insert(out.end(), ca_fingerprint.begin(), ca_fingerprint.end());
  put_be(out, version, 8);
  put_be(out, node_ids.size(), 4);
  for (const std::string& id : node_ids) put_node_id(out, id);
  return out;
}

std::vector<std::uint8_t> SignedRevocations::encode() const {
  if (signature.empty() || signature.size() > max_signature_bytes) {
    fail(Errc::invalid_argument, "revocation list signature must be 1 to {} bytes",
         max_signature_bytes);
  }
  std::vector<std::uint8_t> out = signed_bytes();
  put_be(out, signature.size(), 2);
  out.insert(out.end(), signature.begin(), signature.end());
  return out;
}

SignedRevocations SignedRevocations::decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > max_encoded_bytes) {
    fail(Errc::invalid_argument, "revocation list of {} bytes exceeds the limit of {}",
         bytes.size(), max_encoded_bytes);
  }
  Reader in(bytes);
  const auto head = in.take(magic.size(), "the magic");
  if (!std::equal(head.begin(), head.end(), magic.begin())) {
    fail(Errc::invalid_argument, "not a crossgpu revocation list (bad magic)");
  }
  if (const auto format = in.be(1, "the format version"); format != format_version) {
    fail(Errc::invalid_argument, "revocation list format {} is unknown (this build reads {})",
         format, format_version);
  }
  SignedRevocations list;
  const auto fingerprint = in.take(32, "the CA fingerprint");
  std::copy(fingerprint.begin(), fingerprint.end(), list.ca_fingerprint.begin());
  list.version = in.be(8, "the version");
  if (list.version == 0) fail(Errc::invalid_argument, "revocation list version must be > 0");
  const std::uint64_t count = in.be(4, "the node count");
  if (count > max_nodes) {
    fail(Errc::invalid_argument, "revocation list claims {} nodes; the limit is {}", count,
         max_nodes);
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    list.node_ids.push_back(hex_id(in.take(id_bytes, "a node id")));
    if (i > 0 && list.node_ids[i - 1] >= list.node_ids[i]) {
      fail(Errc::invalid_argument, "revocation list node ids are not sorted and unique");
    }
  }
  const std::uint64_t signature_bytes = in.be(2, "the signature length");
  if (signature_bytes == 0 || signature_bytes > max_signature_bytes) {
    fail(Errc::invalid_argument, "revocation list signature of {} bytes (must be 1 to {})",
         signature_bytes, max_signature_bytes);
  }
  const auto signature = in.take(signature_bytes, "the signature");
  list.signature.assign(signature.begin(), signature.end());
  if (in.left() != 0) {
    fail(Errc::invalid_argument, "revocation list has {} bytes after the signature", in.left());
  }
  return list;
}

bool SignedRevocations::contains(std::string_view node_id) const {
  return std::binary_search(node_ids.begin(), node_ids.end(), node_id);
}

}  // namespace crossgpu::net
