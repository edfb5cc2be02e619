// The node's weight cache against an in-process node over mutual TLS: a stored blob fills a fresh
// buffer bit-exactly, the node hashes what it stores itself and refuses a wrong hash, corrupt or
// truncated blobs are deleted and miss, every range is checked against the caller's own buffers,
// a monitor may not use it, and eviction keeps the folder under its limit. Through the model
// layer: a stage loaded a second time on the same node gets all its weights from the cache and
// computes the same logits.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "cluster/cached_upload.hpp"
#include "cluster/node_connection.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "cluster/weight_cache.hpp"
#include "cluster/wire_validation.hpp"
#include "model/demo_model.hpp"
#include "model/llama_stage.hpp"
#include "net/crypto.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

namespace fs = std::filesystem;

cluster::BlobHash hash_of(std::span<const std::byte> bytes) {
  return net::crypto::sha256({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

std::vector<std::byte> download(Device& device, BufferRef buffer, std::uint64_t offset,
                                std::uint64_t bytes) {
  std::vector<std::byte> out(bytes);
  device.stream().download(buffer, offset, std::span(out)).wait();
  return out;
}

// Names in the folder: blobs and anything else (temporary files must not be left behind).
std::vector<std::string> folder(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

class WeightCacheTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kLimit = 64ull << 20;

  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    cache_dir_ = new TempDir("weight-cache");
    cluster::NodeServerOptions options;
    options.config_dir = cluster_->ca_dir();
    options.listen_address = "127.0.0.1:0";
    options.weight_cache = {cache_dir_->path() / "blobs", kLimit};
    server_ = new cluster::NodeServer(devices(), options);
    server_->start();
    address_ = loopback(server_->port());
    client_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
    monitor_ = new net::NodeIdentity(cluster_->join(net::Role::monitor, address_));
  }
  static void TearDownTestSuite() {
    delete monitor_;
    delete client_;
    delete server_;
    delete cache_dir_;
    delete cluster_;
  }
  void SetUp() override { fs::remove_all(blobs()); }

  static fs::path blobs() { return cache_dir_->path() / "blobs"; }
  static std::unique_ptr<cluster::RemoteNode> connect() {
    return cluster::RemoteNode::connect(address_, *client_);
  }
  static cluster::RemoteDevice& remote(const std::shared_ptr<Device>& device) {
    return static_cast<cluster::RemoteDevice&>(*device);
  }

  static TestCluster* cluster_;
  static TempDir* cache_dir_;
  static cluster::NodeServer* server_;
  static net::NodeIdentity* client_;
  static net::NodeIdentity* monitor_;
  static std::string address_;
};
TestCluster* WeightCacheTest::cluster_ = nullptr;
TempDir* WeightCacheTest::cache_dir_ = nullptr;
cluster::NodeServer* WeightCacheTest::server_ = nullptr;
net::NodeIdentity* WeightCacheTest::client_ = nullptr;
net::NodeIdentity* WeightCacheTest::monitor_ = nullptr;
std::string WeightCacheTest::address_;

TEST_F(WeightCacheTest, StoreThenFillIsBitExactInAFreshBuffer) {
  auto node = connect();
  for (const auto& device : node->devices()) {
    // Over one 4 MiB chunk and not a multiple of 4: chunking and tails both exercised.
    for (std::size_t size : {std::size_t{1}, (std::size_t{4} << 20) + 3}) {
      SCOPED_TRACE(device->properties().name + " " + std::to_string(size));
      const auto data = random_bytes(size, static_cast<std::uint32_t>(size) + 11);
      const auto hash = hash_of(data);
      Buffer source = device->allocate(size + 8);
      device->stream().upload(source.ref(), 8, std::span(data)).wait();
      ASSERT_TRUE(remote(device).store_to_cache(source.ref(), 8, size, hash));
      EXPECT_EQ(fs::file_size(blobs() / net::crypto::hex(hash)), size);

      Buffer fresh = device->allocate(size + 100);
      ASSERT_TRUE(remote(device).fill_from_cache(fresh.ref(), 100, size, hash));
      EXPECT_EQ(download(*device, fresh.ref(), 100, size), data);
      EXPECT_EQ(folder(blobs()).size(), 1u) << "no temporary file left behind";
      fs::remove_all(blobs());
    }
  }
}

TEST_F(WeightCacheTest, WrongHashIsRefusedAndNothingStored) {
  auto node = connect();
  const auto& device = node->devices().front();
  const auto data = random_bytes(4096, 1);
  const auto other = random_bytes(4096, 2);
  Buffer buffer = device->allocate(data.size());
  device->stream().upload(buffer.ref(), 0, std::span(data)).wait();
  EXPECT_TRUE(throws_errc(
      [&] { remote(device).store_to_cache(buffer.ref(), 0, data.size(), hash_of(other)); },
      Errc::invalid_argument, "nothing stored"));
  EXPECT_TRUE(folder(blobs()).empty()) << "neither the blob nor its temporary file";
  EXPECT_FALSE(remote(device).fill_from_cache(buffer.ref(), 0, data.size(), hash_of(other)));
}

TEST_F(WeightCacheTest, UnknownHashOrSizeMissesAndWritesNothing) {
  auto node = connect();
  const auto& device = node->devices().front();
  const auto data = random_bytes(1000, 3);
  Buffer buffer = device->allocate(data.size());
  device->stream().upload(buffer.ref(), 0, std::span(data)).wait();
  const auto unknown = hash_of(random_bytes(1000, 4));
  EXPECT_FALSE(remote(device).fill_from_cache(buffer.ref(), 0, 1000, unknown));
  ASSERT_TRUE(remote(device).store_to_cache(buffer.ref(), 0, 1000, hash_of(data)));
  // The right hash with another size is not that blob, and a wrong guess does not delete it.
  EXPECT_FALSE(remote(device).fill_from_cache(buffer.ref(), 0, 999, hash_of(data)));
  EXPECT_TRUE(fs::exists(blobs() / net::crypto::hex(hash_of(data))));
  EXPECT_EQ(download(*device, buffer.ref(), 0, data.size()), data);
}

TEST_F(WeightCacheTest, CorruptOrTruncatedBlobIsAMissAndDeleted) {
  auto node = connect();
  const auto& device = node->devices().front();
  const auto data = random_bytes(8192, 5);
  const auto hash = hash_of(data);
  const fs::path blob = blobs() / net::crypto::hex(hash);
  Buffer source = device->allocate(data.size());
  device->stream().upload(source.ref(), 0, std::span(data)).wait();
  const auto zeros = std::vector<std::byte>(data.size());

  ASSERT_TRUE(remote(device).store_to_cache(source.ref(), 0, data.size(), hash));
  {  // one bit flipped, size unchanged
    std::fstream file(blob, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4000);
    file.put(static_cast<char>(static_cast<unsigned char>(data[4000]) ^ 1u));
  }
  Buffer fresh = device->allocate(data.size());
  device->stream().upload(fresh.ref(), 0, std::span(zeros)).wait();
  EXPECT_FALSE(remote(device).fill_from_cache(fresh.ref(), 0, data.size(), hash));
  EXPECT_FALSE(fs::exists(blob));
  EXPECT_EQ(download(*device, fresh.ref(), 0, data.size()), zeros) << "corrupt bytes never land";

  ASSERT_TRUE(remote(device).store_to_cache(source.ref(), 0, data.size(), hash));
  fs::resize_file(blob, data.size() - 1);
  EXPECT_FALSE(remote(device).fill_from_cache(fresh.ref(), 0, data.size(), hash));
  EXPECT_FALSE(fs::exists(blob));
  EXPECT_EQ(download(*device, fresh.ref(), 0, data.size()), zeros);
}

TEST_F(WeightCacheTest, RangesAreCheckedAgainstTheCallersOwnBuffers) {
  auto node = connect();
  auto other = connect();
  const auto& device = node->devices().front();
  const auto data = random_bytes(256, 6);
  const auto hash = hash_of(data);
  Buffer buffer = device->allocate(256);
  device->stream().upload(buffer.ref(), 0, std::span(data)).wait();
  ASSERT_TRUE(remote(device).store_to_cache(buffer.ref(), 0, 256, hash));
  const std::uint64_t handle = remote(device).remote_handle(buffer.ref(), 0, 256);
  cluster::NodeConnection& mine = node->connection();
  cluster::NodeConnection& theirs = other->connection();

  for (bool fill : {true, false}) {
    SCOPED_TRACE(fill ? "FillFromCache" : "StoreToCache");
    auto call = [&](cluster::NodeConnection& c, std::uint64_t h, std::uint64_t offset,
                    std::uint64_t bytes) {
      return fill ? c.fill_from_cache(h, offset, bytes, hash)
                  : c.store_to_cache(h, offset, bytes, hash);
    };
    EXPECT_TRUE(throws_errc([&] { call(mine, handle + 1000, 0, 256); }, Errc::not_found));
    EXPECT_TRUE(throws_errc([&] { call(theirs, handle, 0, 256); }, Errc::not_found))
        << "another session's buffer is not there for this one";
    EXPECT_TRUE(throws_errc([&] { call(mine, handle, 1, 256); }, Errc::out_of_range));
    EXPECT_TRUE(throws_errc([&] { call(mine, handle, 0, 257); }, Errc::out_of_range));
    EXPECT_TRUE(throws_errc([&] { call(mine, handle, ~std::uint64_t{0}, 2); }, Errc::out_of_range,
                            "overflows"));
    EXPECT_TRUE(throws_errc([&] { call(mine, handle, 0, 0); }, Errc::invalid_argument));
  }
  // A hash that is not 32 bytes never reaches the cache (the wire check the node runs).
  EXPECT_TRUE(throws_errc([&] { cluster::check_blob_range(0, 1, std::string(31, 'x'), "t"); },
                          Errc::invalid_argument, "31 bytes"));
  EXPECT_EQ(download(*device, buffer.ref(), 0, 256), data);
}

TEST_F(WeightCacheTest, MonitorRoleIsRefused) {
  auto connection = cluster::NodeConnection::open(address_, *monitor_);
  const cluster::BlobHash hash{};
  EXPECT_TRUE(throws_errc([&] { connection->fill_from_cache(1, 0, 16, hash); },
                          Errc::permission_denied));
  EXPECT_TRUE(throws_errc([&] { connection->store_to_cache(1, 0, 16, hash); },
                          Errc::permission_denied));
}

// The cache itself: least recently used blobs go first, and a blob over the limit is declined.
TEST(WeightCacheFolder, EvictionKeepsTheFolderUnderItsLimit) {
  TempDir dir("weight-cache-evict");
  constexpr std::uint64_t kBlob = 10'000;
  cluster::WeightCache cache({dir.path(), 3 * kBlob + kBlob / 2});
  std::vector<std::vector<std::byte>> blobs;
  auto from = [](const std::vector<std::byte>& bytes) {
    return [&bytes](std::uint64_t at, std::span<std::byte> out) {
      std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), out.size(), out.begin());
    };
  };
  const auto base = fs::file_time_type::clock::now() - std::chrono::hours(2);
  for (std::uint32_t i = 0; i < 6; ++i) {
    blobs.push_back(random_bytes(kBlob, 100 + i));
    ASSERT_TRUE(cache.store(hash_of(blobs.back()), kBlob, from(blobs.back())));
    // Ages set explicitly: file times may be coarser than the loop.
    fs::last_write_time(cache.path_of(hash_of(blobs.back())), base + std::chrono::minutes(i));
    if (i == 3) {  // blob 1 is used again: it becomes the most recently used
      EXPECT_TRUE(cache.load(hash_of(blobs[1]), kBlob, [](auto, auto) {}));
    }
    EXPECT_LE(cache.used_bytes(), cache.limit_bytes());
  }
  // Stored 0..5 with 1 touched after 3: 1, 4 and 5 remain.
  for (std::uint32_t i = 0; i < 6; ++i) {
    EXPECT_EQ(fs::exists(cache.path_of(hash_of(blobs[i]))), i == 1 || i == 4 || i == 5) << i;
  }
  const auto big = random_bytes(4 * kBlob, 7);
  EXPECT_FALSE(cache.store(hash_of(big), big.size(), from(big)));
  EXPECT_EQ(cache.used_bytes(), 3 * kBlob) << "declining a blob evicts nothing";

  cluster::WeightCache off({dir.path(), 0});
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.store(hash_of(blobs[5]), kBlob, from(blobs[5])));
  EXPECT_FALSE(off.load(hash_of(blobs[5]), kBlob, [](auto, auto) { FAIL(); }));
}

// Through the model layer, with the hook an app installs for remote devices.
TEST_F(WeightCacheTest, SecondLoadOfAStageComesFromTheNodesCache) {
  model::DemoModelSpec spec;
  spec.layers = 2;
  spec.embedding = 256;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.ffn = 512;
  spec.context = 32;
  const auto bytes = model::demo_model(spec).bytes();
  const auto file = model::GgufFile::parse(bytes);
  const auto config = model::LlamaConfig::from_gguf(file);
  auto node = connect();
  for (const auto& device : node->devices()) {
    SCOPED_TRACE(device->properties().name);
    fs::remove_all(blobs());
    std::vector<float> first_logits;
    for (int run = 0; run < 2; ++run) {
      std::uint64_t progress = 0, total = 0;
      model::StageOptions options{.context = 32, .max_batch = 4};
      options.on_progress = [&](std::uint64_t done, std::uint64_t all) {
        progress = done;
        total = all;
      };
      options.upload_weights = [](Device& d, BufferRef dst, std::uint64_t offset, std::span<const std::byte> w) {
        return cluster::upload_through_cache(static_cast<cluster::RemoteDevice&>(d), dst, offset, w)
                   ? model::WeightSource::cached
                   : model::WeightSource::sent;
      };
      model::LlamaStage stage(config, file, device, {0, spec.layers, true, true}, options);
      EXPECT_EQ(progress, stage.weight_bytes());
      EXPECT_EQ(total, stage.weight_bytes());
      EXPECT_EQ(stage.sent_bytes(), run == 0 ? stage.weight_bytes() : 0);
      EXPECT_EQ(stage.cached_bytes(), run == 0 ? 0 : stage.weight_bytes());
      // The cached weights compute exactly what the sent ones did.
      const std::vector<std::uint32_t> ids = {1, 300, 301, 40};
      device->stream().upload(stage.token_ids(), 0, std::as_bytes(std::span(ids))).wait();
      stage.forward(static_cast<std::uint32_t>(ids.size()), 0).wait();
      const auto raw = download(*device, stage.logits(), 0, config.vocab * sizeof(float));
      std::vector<float> logits(config.vocab);
      std::memcpy(logits.data(), raw.data(), raw.size());
      if (run == 0) first_logits = logits;
      else EXPECT_EQ(logits, first_logits);
    }
  }
}

}  // namespace
}  // namespace crossgpu::testing
