// An upload to a remote device through its node's weight cache: the bytes' SHA-256 goes first,
// and the bytes themselves only when the node does not hold them yet, after which the node keeps
// them (hashing them itself) for the next time. For large, unchanging data such as model weights.
#pragma once

#include <cstdint>
#include <span>

#include "cluster/remote_device.hpp"

namespace crossgpu::cluster {

// Places `bytes` at [offset, offset + bytes.size()) of `dst`, a buffer of `device`. Returns true
// when they came from the node's cache (nothing but the hash was sent), false when they were
// sent. Errors of the node's cache calls (e.g. Errc::unsupported from an older node) propagate;
// the caller decides whether to fall back to plain uploads.
bool upload_through_cache(RemoteDevice& device, BufferRef dst, std::uint64_t offset,
                          std::span<const std::byte> bytes);

}  // namespace crossgpu::cluster
