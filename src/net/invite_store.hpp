// The CA holder's record of outstanding invites (invites.json, 0600): only a hash of each
// secret is kept, so reading the file does not let anyone join.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "net/security.hpp"

namespace crossgpu::net {

void record_invite(const std::filesystem::path& dir, std::span<const std::uint8_t> secret,
                   Role role, std::int64_t expires_unix_seconds);

// Marks the matching invite used and returns its role; throws Errc::invalid_argument when the
// secret is unknown, used or expired. `now_unix_seconds` is a parameter for tests.
Role redeem_invite(const std::filesystem::path& dir, std::span<const std::uint8_t> secret,
                   std::int64_t now_unix_seconds);

std::int64_t unix_now();

}  // namespace crossgpu::net
