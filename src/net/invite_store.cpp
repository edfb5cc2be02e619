#include "net/invite_store.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "net/crypto.hpp"
#include "net/files.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr std::string_view file_name = "invites.json";
// Records of invites that expired this long ago are dropped: they can never be redeemed.
constexpr std::int64_t keep_expired_seconds = 7 * 24 * 3600;

json load(const fs::path& dir) {
  const fs::path path = dir / file_name;
  if (!fs::exists(path)) return json{{"invites", json::array()}};
  json doc = json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("invites") || !doc["invites"].is_array()) {
    fail(Errc::invalid_argument, "{} is corrupt: remove it to cancel every open invite",
         path.string());
  }
  for (const json& entry : doc["invites"]) {
    if (!entry.is_object()) fail(Errc::invalid_argument, "{} is corrupt: remove it", path.string());
  }
  return doc;
}

void save(const fs::path& dir, json& doc, std::int64_t now) {
  json kept = json::array();
  for (json& entry : doc["invites"]) {
    if (entry.value("expires", std::int64_t{0}) + keep_expired_seconds > now) kept.push_back(entry);
  }
  doc["invites"] = std::move(kept);
  write_file_atomic(dir / file_name, doc.dump(2), private_mode);
}

std::string secret_hash(std::span<const std::uint8_t> secret) {
  return crypto::hex(crypto::sha256(secret));
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void record_invite(const fs::path& dir, std::span<const std::uint8_t> secret, Role role,
                   std::int64_t expires_unix_seconds) {
  FolderLock lock(dir);
  json doc = load(dir);
  doc["invites"].push_back({{"secret_sha256", secret_hash(secret)},
                            {"role", to_string(role)},
                            {"expires", expires_unix_seconds},
                            {"used", false}});
  save(dir, doc, unix_now());
}

Role redeem_invite(const fs::path& dir, std::span<const std::uint8_t> secret,
                   std::int64_t now_unix_seconds) {
  if (secret.size() != 32) fail(Errc::invalid_argument, "invite secret must be 32 bytes");
  const crypto::Sha256 wanted = crypto::sha256(secret);
  FolderLock lock(dir);
  json doc = load(dir);
  // Compare against every record, without stopping early: the time taken says nothing about
  // which stored hash came close.
  json* match = nullptr;
  const std::string wanted_hex = crypto::hex(wanted);
  for (json& entry : doc["invites"]) {
    const std::string stored = entry.value("secret_sha256", std::string());
    const bool same = crypto::equal_constant_time(
        {reinterpret_cast<const std::uint8_t*>(stored.data()), stored.size()},
        {reinterpret_cast<const std::uint8_t*>(wanted_hex.data()), wanted_hex.size()});
    if (same) match = &entry;
  }
  if (!match)
    fail(Errc::invalid_argument,
         "invite is not valid for this cluster: ask an admin for a new one");
  if (match->value("used", true)) {
    fail(Errc::invalid_argument,
         "invite was already used: each invite admits one device; ask an admin for a new one");
  }
  if (match->value("expires", std::int64_t{0}) <= now_unix_seconds) {
    fail(Errc::invalid_argument, "invite has expired: ask an admin for a new one");
  }
  const Role role = parse_role(match->value("role", std::string()));
  (*match)["used"] = true;
  save(dir, doc, now_unix_seconds);
  return role;
}

}  // namespace crossgpu::net
