#include "cluster/weight_cache.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/protocol.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "net/crypto.hpp"

namespace crossgpu::cluster {
namespace fs = std::filesystem;
namespace {

// Incremental SHA-256: blobs are hashed chunk by chunk, never held whole in memory.
class Sha256Stream {
 public:
  Sha256Stream() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      fail(Errc::internal, "SHA-256 is not available from OpenSSL");
    }
  }
  void update(std::span<const std::byte> bytes) {
    if (EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1) {
      fail(Errc::internal, "SHA-256 update failed");
    }
  }
  BlobHash finish() {
    BlobHash out{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &n) != 1 || n != out.size()) {
      fail(Errc::internal, "SHA-256 final failed");
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

bool is_blob_name(const std::string& name) {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Reads `bytes` bytes from the start of `in` through `each` in chunks; false when it cannot.
bool read_chunks(std::ifstream& in, std::uint64_t bytes,
                 const std::function<void(std::uint64_t, std::span<const std::byte>)>& each) {
  in.clear();
  in.seekg(0);
  if (!in) return false;
  std::vector<std::byte> chunk(std::min<std::uint64_t>(bytes, kMaxChunkBytes));
  for (std::uint64_t done = 0; done < bytes;) {
    const std::uint64_t n = std::min<std::uint64_t>(chunk.size(), bytes - done);
    if (!in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(n))) {
      return false;
    }
    each(done, std::span(chunk.data(), n));
    done += n;
  }
  return true;
}

// True when the first `bytes` bytes of `in` hash to `hash`.
bool verifies(std::ifstream& in, std::uint64_t bytes, const BlobHash& hash) {
  Sha256Stream digest;
  return read_chunks(in, bytes, [&](std::uint64_t, auto chunk) { digest.update(chunk); }) &&
         digest.finish() == hash;
}

void remove_corrupt(const fs::path& path, const char* why) {
  log::warn("weight cache: {} {}; deleted", path.string(), why);
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

fs::path default_weight_cache_dir() {
  // The same roots as the device profiles' cache, so one variable moves both.
  for (const auto& [variable, suffix] : {std::pair{"CROSSGPU_CACHE_DIR", ""},
                                         std::pair{"XDG_CACHE_HOME", "/crossgpu"},
                                         std::pair{"HOME", "/.cache/crossgpu"}}) {
    if (const char* value = std::getenv(variable); value != nullptr && *value == '/') {
      return fs::path(std::string(value) + suffix) / "blobs";
    }
  }
  return {};
}

WeightCache::WeightCache(WeightCacheOptions options) : options_(std::move(options)) {
  if (options_.dir.empty() && enabled()) {
    options_.dir = default_weight_cache_dir();
    if (options_.dir.empty()) {
      log::warn("weight cache off: no CROSSGPU_CACHE_DIR, XDG_CACHE_HOME or HOME to put it in");
      options_.limit_bytes = 0;
    }
  }
}

fs::path WeightCache::path_of(const BlobHash& hash) const {
  return options_.dir / net::crypto::hex(hash);
}

bool WeightCache::load(const BlobHash& hash, std::uint64_t bytes, const ChunkSink& sink) {
  if (!enabled()) return false;
  const fs::path path = path_of(hash);
  std::error_code ec;
  const std::uint64_t size = fs::file_size(path, ec);
  if (ec) return false;  // not cached
  // Verified whole before any byte reaches the sink: a corrupt blob never lands in a buffer. A
  // blob of another size than asked is the caller's miss, and is deleted only when it is corrupt.
  // One open file for both passes: what is served is the inode that verified, even if the name
  // is replaced or evicted meanwhile.
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;  // evicted since
  if (!verifies(in, size, hash)) {
    remove_corrupt(path, size == bytes ? "does not match its hash" : "is truncated or damaged");
    return false;
  }
  if (size != bytes) return false;
  if (!read_chunks(in, bytes, sink)) {
    fail(Errc::io, "weight cache: {} could not be read a second time", path.string());
  }
  // A hit makes the blob the most recently used: eviction goes by modification time.
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  return true;
}

bool WeightCache::store(const BlobHash& hash, std::uint64_t bytes, const ChunkSource& source) {
  if (!enabled() || bytes > options_.limit_bytes) return false;
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) fail(Errc::io, "weight cache: cannot create {}: {}", options_.dir.string(), ec.message());
  // A name of its own per store: two sessions storing the same blob do not share a temp file.
  const fs::path temp = options_.dir / (net::crypto::hex(hash) + ".tmp." +
                                        net::crypto::hex(net::crypto::random_bytes(8)));
  Sha256Stream digest;
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail(Errc::io, "weight cache: cannot write {}", temp.string());
    std::vector<std::byte> chunk(std::min<std::uint64_t>(bytes, kMaxChunkBytes));
    try {
      for (std::uint64_t done = 0; done < bytes;) {
        const std::uint64_t n = std::min<std::uint64_t>(chunk.size(), bytes - done);
        source(done, std::span(chunk.data(), n));
        digest.update(std::span(chunk.data(), n));
        out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(n));
        done += n;
      }
      out.close();
      if (!out) fail(Errc::io, "weight cache: writing {} failed (disk full?)", temp.string());
    } catch (...) {
      fs::remove(temp, ec);
      throw;
    }
  }
  const BlobHash actual = digest.finish();
  if (actual != hash) {
    fs::remove(temp, ec);
    fail(Errc::invalid_argument, "the range hashes to {}, not to the {} given; nothing stored",
         net::crypto::hex(actual), net::crypto::hex(hash));
  }
  std::lock_guard lock(mutex_);
  evict_to_fit(bytes);
  fs::rename(temp, path_of(hash), ec);  // atomic: readers see the whole blob or none
  if (ec) {
    fs::remove(temp, ec);
    fail(Errc::io, "weight cache: cannot rename into {}: {}", options_.dir.string(), ec.message());
  }
  return true;
}

std::uint64_t WeightCache::used_bytes() const {
  std::uint64_t used = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    if (entry.is_regular_file(ec) && is_blob_name(entry.path().filename().string())) {
      used += entry.file_size(ec);
    }
  }
  return used;
}

void WeightCache::evict_to_fit(std::uint64_t incoming) {
  struct Blob {
    fs::path path;
    fs::file_time_type mtime;
    std::uint64_t size;
  };
  std::vector<Blob> blobs;
  std::uint64_t used = 0;
  std::error_code ec;
  const auto stale = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec)) continue;
    const auto mtime = entry.last_write_time(ec);
    if (is_blob_name(name)) {
      blobs.push_back({entry.path(), mtime, entry.file_size(ec)});
      used += blobs.back().size;
    } else if (name.find(".tmp.") != std::string::npos && mtime < stale) {
      fs::remove(entry.path(), ec);  // left by a node that died mid-store
    }
  }
  std::sort(blobs.begin(), blobs.end(),
            [](const Blob& a, const Blob& b) { return a.mtime < b.mtime; });
  for (const Blob& blob : blobs) {
    if (used + incoming <= options_.limit_bytes) break;
    if (fs::remove(blob.path, ec)) used -= blob.size;
  }
}

}  // namespace crossgpu::cluster
