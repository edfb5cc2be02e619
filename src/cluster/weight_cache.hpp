// The node's content-addressed weight cache: blobs named by the hex SHA-256 of their bytes in one
// folder, so that a client that loads the same model again sends a hash instead of the weights.
// Every blob is verified (size and hash) before it is served; a corrupt one is deleted and
// counts as a miss. Stores are atomic (temporary file + rename) and keep the folder under a byte
// limit by evicting the least recently used blobs (oldest modification time; a hit touches it).
// Free of gRPC and devices: the Node service moves the bytes between blobs and buffers.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>

namespace crossgpu::cluster {

using BlobHash = std::array<std::uint8_t, 32>;  // SHA-256

struct WeightCacheOptions {
  std::filesystem::path dir;                // empty: default_weight_cache_dir()
  std::uint64_t limit_bytes = 8ull << 30;   // 0: no cache (every fill misses, nothing stored)
};

// $CROSSGPU_CACHE_DIR/blobs, else <$XDG_CACHE_HOME or ~/.cache>/crossgpu/blobs; empty when
// none of them is set (the cache is then off).
std::filesystem::path default_weight_cache_dir();

class WeightCache {
 public:
  // Reads a range of the blob in order: (offset in the blob, destination of its bytes).
  using ChunkSink = std::function<void(std::uint64_t, std::span<const std::byte>)>;
  // Produces the bytes to store in order: (offset, span to fill).
  using ChunkSource = std::function<void(std::uint64_t, std::span<std::byte>)>;

  explicit WeightCache(WeightCacheOptions options);

  bool enabled() const noexcept { return options_.limit_bytes > 0; }
  const std::filesystem::path& dir() const noexcept { return options_.dir; }
  std::uint64_t limit_bytes() const noexcept { return options_.limit_bytes; }

  // When a blob of this hash and size exists and verifies, hands its bytes to `sink` chunk by
  // chunk (after the whole blob has verified, so a corrupt blob never reaches the sink) and
  // returns true. Otherwise false; a blob whose bytes do not hash to its name is deleted.
  bool load(const BlobHash& hash, std::uint64_t bytes, const ChunkSink& sink);

  // Pulls `bytes` bytes from `source`, hashes them and stores them when they hash to `hash`.
  // Errc::invalid_argument (nothing stored) when they do not. Returns false without storing
  // when the cache is off or the blob alone exceeds the limit; Errc::io when the folder is not
  // writable.
  bool store(const BlobHash& hash, std::uint64_t bytes, const ChunkSource& source);

  // Bytes the blobs in the folder take now.
  std::uint64_t used_bytes() const;
  std::filesystem::path path_of(const BlobHash& hash) const;

 private:
  void evict_to_fit(std::uint64_t incoming);

  WeightCacheOptions options_;
  mutable std::mutex mutex_;  // eviction and renames of this process
};

}  // namespace crossgpu::cluster
