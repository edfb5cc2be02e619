// The cluster part of the C ABI in a build without the network layers (CROSSGPU_WITH_NETWORK
// off: the arm64 cross build, Android and iOS library builds). Every call says so, typed.
#include "capi/capi_support.hpp"

namespace crossgpu::capi {
namespace {

cg_status unsupported(const char* function) {
  return guarded([&] {
    fail(Errc::unsupported,
         "{}: this crossgpu library was built without the network layers (CROSSGPU_WITH_NETWORK=OFF), "
         "so it cannot create, join or reach a cluster; use a build with networking",
         function);
  });
}

}  // namespace

std::optional<RemoteLocation> remote_location(const Device&) { return std::nullopt; }

}  // namespace crossgpu::capi

using crossgpu::capi::unsupported;

extern "C" {

cg_status cg_cluster_init(const char*, const char*, int) { return unsupported("cg_cluster_init"); }
cg_status cg_cluster_invite(const char*, int, uint64_t, const char*, char*, size_t, size_t*) {
  return unsupported("cg_cluster_invite");
}
cg_status cg_cluster_join(const char*, const char*, const char*, int) { return unsupported("cg_cluster_join"); }
cg_status cg_cluster_remove(const char*, const char*) { return unsupported("cg_cluster_remove"); }
cg_status cg_cluster_status_json(const char*, const char*, char*, size_t, size_t*) {
  return unsupported("cg_cluster_status_json");
}
cg_status cg_node_start(const char*, const char*, cg_registry, uint64_t, cg_node*) {
  return unsupported("cg_node_start");
}
cg_status cg_node_port(cg_node, int*) { return unsupported("cg_node_port"); }
cg_status cg_node_id(cg_node, char*, size_t, size_t*) { return unsupported("cg_node_id"); }
cg_status cg_node_stop(cg_node) { return unsupported("cg_node_stop"); }
cg_status cg_registry_connect(cg_registry, const char*, const char*, size_t*) {
  return unsupported("cg_registry_connect");
}

}  // extern "C"
