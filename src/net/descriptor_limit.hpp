// A node's file descriptors: every connection costs one or two, and a node that runs out can no
// longer read its CA or revocation lists (so it refuses everyone) nor accept gRPC calls. A node
// raises its soft limit at start and sizes its connection caps to leave a reserve.
#pragma once

#include <cstddef>

namespace crossgpu::net {

// Raises this process's descriptor soft limit towards its hard limit (at most `wanted`) and
// returns the soft limit in force afterwards.
std::size_t raise_descriptor_limit(std::size_t wanted = 65536);
// Descriptors this process may spend on connections: the soft limit less `reserve` for the files
// it must always be able to open (CA, revocation lists, the weight cache, gRPC's own); at least 0.
std::size_t descriptor_budget(std::size_t reserve = 256);

}  // namespace crossgpu::net
