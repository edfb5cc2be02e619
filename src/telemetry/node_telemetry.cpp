#include "telemetry/node_telemetry.hpp"

namespace crossgpu::telemetry {

std::string_view to_string(SelfTestStatus status) noexcept {
  switch (status) {
    case SelfTestStatus::not_run: return "not run";
    case SelfTestStatus::passed: return "passed";
    case SelfTestStatus::failed: return "failed";
  }
  return "unknown";
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
