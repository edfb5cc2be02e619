#include "telemetry/node_telemetry.hpp"

#include "core/error.hpp"

namespace crossgpu::telemetry {
namespace {

// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). A name from
// the wire already passed protobuf's check; one from the command line has not.
bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3
                               : (lead >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code = length == 1 ? lead : lead & (0x7f >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

}  // namespace

std::string_view to_string(SelfTestStatus status) noexcept {
  switch (status) {
    case SelfTestStatus::not_run: return "not run";
    case SelfTestStatus::passed: return "passed";
    case SelfTestStatus::failed: return "failed";
  }
  return "unknown";
}

const std::string& checked_node_name(const std::string& name) {
  if (name.size() > kMaxNodeNameBytes) {
    fail(Errc::invalid_argument, "a node name is at most {} bytes; this one has {}",
         kMaxNodeNameBytes, name.size());
  }
  // Control characters would let a name rewrite a terminal line or a log record.
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      fail(Errc::invalid_argument, "a node name may not hold control characters (byte 0x{:02x})",
           static_cast<unsigned>(byte));
    }
  }
  if (!is_valid_utf8(name)) fail(Errc::invalid_argument, "a node name must be UTF-8");
  return name;
}

DeviceRegistration registration_of(const Device& device, std::string profile_status) {
  const DeviceProperties& p = device.properties();
  DeviceRegistration r;
  r.device_id = p.id;
  r.name = p.name;
  r.vendor = std::string(to_string(p.vendor));
  r.type = std::string(to_string(p.type));
  r.backend = std::string(to_string(p.backend));
  r.profile_status = std::move(profile_status);
  r.self_test_reason = "the self-test runs with the profile";
  return r;
}

void apply_profile(DeviceRegistration& registration, DeviceProfile profile, std::string status) {
  registration.self_test = profile.self_test_passed ? SelfTestStatus::passed : SelfTestStatus::failed;
  registration.self_test_reason.clear();
  for (const std::string& note : profile.self_test_notes) {
    registration.self_test_reason += (registration.self_test_reason.empty() ? "" : "; ") + note;
  }
  if (!profile.self_test_passed && registration.self_test_reason.empty()) {
    registration.self_test_reason = "self-test failed without a note";
  }
  registration.profile = std::move(profile);
  registration.profile_status = std::move(status);
}

}  // namespace crossgpu::telemetry
