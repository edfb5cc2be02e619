// Device properties: the vendor table, stable ids and the JSON form that tools print.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "device/properties.hpp"
#include "device/registry.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

TEST(VendorFromPciId, MapsKnownVendors) {
  EXPECT_EQ(vendor_from_pci_id(0x10DE), Vendor::nvidia);
  EXPECT_EQ(vendor_from_pci_id(0x1002), Vendor::amd);
  EXPECT_EQ(vendor_from_pci_id(0x1022), Vendor::amd);
  EXPECT_EQ(vendor_from_pci_id(0x8086), Vendor::intel);
  EXPECT_EQ(vendor_from_pci_id(0x106B), Vendor::apple);
  EXPECT_EQ(vendor_from_pci_id(0x5143), Vendor::qualcomm);
  EXPECT_EQ(vendor_from_pci_id(0x13B5), Vendor::arm);
  EXPECT_EQ(vendor_from_pci_id(0x1010), Vendor::imgtec);
  EXPECT_EQ(vendor_from_pci_id(0x144D), Vendor::samsung);
  EXPECT_EQ(vendor_from_pci_id(0x14E4), Vendor::broadcom);
  EXPECT_EQ(vendor_from_pci_id(0x1414), Vendor::microsoft);
  EXPECT_EQ(vendor_from_pci_id(0x10005), Vendor::mesa);
}

TEST(VendorFromPciId, UnknownIdsAreUnknown) {
  EXPECT_EQ(vendor_from_pci_id(0), Vendor::unknown);
  EXPECT_EQ(vendor_from_pci_id(0xFFFF), Vendor::unknown);
  EXPECT_STREQ(to_string(Vendor::unknown), "unknown");
}

TEST(VendorFromPciId, EveryVendorHasAName) {
  for (Vendor v :
       {Vendor::nvidia, Vendor::amd, Vendor::intel, Vendor::apple, Vendor::qualcomm, Vendor::arm,
        Vendor::imgtec, Vendor::samsung, Vendor::broadcom, Vendor::microsoft, Vendor::mesa}) {
    EXPECT_STRNE(to_string(v), "unknown");
  }
}

TEST(Registry, IdsAreUniqueAndStableAcrossInstances) {
  RegistryOptions options;
  options.validation = true;
  options.cache_dir = "-";
  Registry first(options);
  Registry second(options);
  ASSERT_EQ(first.devices().size(), second.devices().size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < first.devices().size(); ++i) {
    const DeviceProperties& a = first.devices()[i]->properties();
    const DeviceProperties& b = second.devices()[i]->properties();
    EXPECT_FALSE(a.id.empty());
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.limits.max_allocation_bytes, b.limits.max_allocation_bytes);
    ids.insert(a.id);
  }
  EXPECT_EQ(ids.size(), first.devices().size()) << "device ids must be unique";
}

TEST(Registry, FindByIdAndUnknownIdIsNotFound) {
  Registry& registry = testing::registry();
  for (const auto& device : registry.devices()) {
    EXPECT_EQ(registry.find(device->id()), device);
  }
  EXPECT_TRUE(testing::throws_errc([&] { registry.find("no-such-device"); }, Errc::not_found,
                                   "no-such-device"));
}

TEST(Registry, CpuOnlyOptionGivesOnlyTheCpu) {
  RegistryOptions cpu_only;
  cpu_only.vulkan = false;
  Registry registry(cpu_only);
  ASSERT_EQ(registry.devices().size(), 1u);
  EXPECT_EQ(registry.devices()[0]->properties().backend, Backend::cpu);
}

class DevicePropertiesTest : public testing::PerDeviceTest {};

TEST_P(DevicePropertiesTest, AreCoherent) {
  const DeviceProperties& p = device().properties();
  EXPECT_FALSE(p.name.empty());
  EXPECT_FALSE(p.heaps.empty());
  EXPECT_GT(p.device_local_bytes(), 0u);
  EXPECT_GT(p.limits.max_allocation_bytes, 0u);
  EXPECT_GT(p.limits.max_storage_buffer_range, 0u);
  EXPECT_GE(p.limits.min_storage_buffer_offset_alignment, 1u);
  EXPECT_GE(p.limits.max_push_constant_bytes, 128u);
  EXPECT_GE(p.limits.max_workgroup_invocations, 1u);
  for (int i = 0; i < 3; ++i) EXPECT_GE(p.limits.max_workgroup_count[i], 1u);
  for (const MemoryHeap& heap : p.heaps) EXPECT_LE(heap.free_bytes, heap.total_bytes);
  if (p.backend == Backend::vulkan) {
    EXPECT_FALSE(p.api_version.empty());
  }
}

TEST_P(DevicePropertiesTest, RefreshKeepsIdentity) {
  Device& device = this->device();
  const DeviceProperties refreshed = device.refreshed_properties();
  EXPECT_EQ(refreshed.id, device.id());
  EXPECT_EQ(refreshed.heaps.size(), device.properties().heaps.size());
}

TEST_P(DevicePropertiesTest, JsonHasEveryField) {
  nlohmann::json j = device().properties();
  for (const char* key : {"id", "backend", "name", "vendor", "type", "driver_name",
                          "driver_version", "api_version", "heaps", "limits", "caps"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["id"], device().id());
  EXPECT_EQ(j["limits"]["max_workgroup_count"].size(), 3u);
  EXPECT_TRUE(j["caps"].contains("fp16_arithmetic"));
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j) << "JSON must round-trip";
}

INSTANTIATE_TEST_SUITE_P(All, DevicePropertiesTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
