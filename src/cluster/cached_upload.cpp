#include "cluster/cached_upload.hpp"

#include "net/crypto.hpp"

namespace crossgpu::cluster {

bool upload_through_cache(RemoteDevice& device, BufferRef dst, std::uint64_t offset,
                          std::span<const std::byte> bytes) {
  if (bytes.empty()) return false;  // nothing to send, and the node refuses empty blobs
  const BlobHash hash =
      net::crypto::sha256({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  if (device.fill_from_cache(dst, offset, bytes.size(), hash)) return true;
  device.stream().upload(dst, offset, bytes).wait();
  // The node may decline (cache off or full of larger blobs): the bytes are in place either way.
  device.store_to_cache(dst, offset, bytes.size(), hash);
  return false;
}

}  // namespace crossgpu::cluster
