// Cluster-wide revocation: a removal signed by the CA node spreads through the peer monitors to
// nodes that never talk to the CA node, even after it goes offline; forged, tampered, older and
// malformed lists are refused and change nothing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>

#include "cluster/node_connection.hpp"
#include "cluster/peer_monitor.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "net/files.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

constexpr auto spread_limit = 15s;  // generous for a loaded 2-core machine; typical is < 1 s

Bytes stored_list(const std::filesystem::path& dir) {
  const std::string text = net::read_file(dir / "revocations.bin");
  return {text.begin(), text.end()};
}

bool has_stored_list(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / "revocations.bin");
}

liveness::LivenessConfig fast_liveness() {
  liveness::LivenessConfig config;
  config.heartbeat_interval = 100ms;
  return config;
}

// The status a fresh call from `identity` to the node at `address` gets.
grpc::StatusCode call_status(const net::NodeIdentity& identity, const std::string& address) {
  auto stub = v1::Node::NewStub(identity.connect(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::ListDevicesRequest request;
  v1::ListDevicesResponse response;
  return stub->ListDevices(&context, request, &response).error_code();
}

// Waits until `identity`'s calls to `address` are refused; the time it took, or nullopt.
std::optional<std::chrono::milliseconds> time_until_refused(const net::NodeIdentity& identity,
                                                            const std::string& address) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < spread_limit) {
    if (call_status(identity, address) != grpc::StatusCode::OK) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

// Waits until `monitor` reports `peers` peers, all healthy, so a measured spread is the steady
// state (one poll interval), not the first connection.
void wait_healthy(const cluster::PeerMonitor& monitor, std::size_t peers = 1) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < spread_limit) {
    const auto status = monitor.status();
    const bool healthy = std::all_of(status.begin(), status.end(),
                                     [](const v1::PeerStatus& p) { return p.state() == "healthy"; });
    if (status.size() == peers && healthy) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL() << "the peer monitor never saw its " << peers << " peers healthy";
}

bool watches(const cluster::PeerMonitor& monitor, const std::string& node_id) {
  const auto status = monitor.status();
  return std::any_of(status.begin(), status.end(),
                     [&](const v1::PeerStatus& p) { return p.node_id() == node_id; });
}

class Revocation : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_server = cluster.start_ca_node();
    ca_address = loopback(ca_server->port());
    b = std::make_unique<net::NodeIdentity>(cluster.join(net::Role::compute, ca_address));
    c = std::make_unique<net::NodeIdentity>(cluster.join(net::Role::compute, ca_address));
  }

  // A removal of `node_id` on the CA node, and the signed list it produced.
  Bytes remove_on_ca(const std::string& node_id) {
    EXPECT_TRUE(net::RevocationList::revoke(cluster.ca_dir(), node_id));
    return stored_list(cluster.ca_dir());
  }

  void expect_refused(const Bytes& bytes, Errc code, const std::string& message_part) {
    const bool had = has_stored_list(b->config_dir());
    const Bytes before = had ? stored_list(b->config_dir()) : Bytes{};
    try {
      net::accept_signed_revocations(b->config_dir(), bytes);
      ADD_FAILURE() << "a bad list was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos) << e.what();
    }
    ASSERT_EQ(has_stored_list(b->config_dir()), had);
    if (had) EXPECT_EQ(stored_list(b->config_dir()), before);
  }

  TestCluster cluster;
  std::unique_ptr<cluster::NodeServer> ca_server;
  std::string ca_address;
  std::unique_ptr<net::NodeIdentity> b;
  std::unique_ptr<net::NodeIdentity> c;
};

TEST_F(Revocation, SpreadsToEveryNodeEvenWithTheCaOffline) {
  auto b_server = TestCluster::start_node(b->config_dir());
  const std::string b_address = loopback(b_server->port());
  const net::NodeIdentity d = cluster.join(net::Role::compute, ca_address);
  auto d_server = TestCluster::start_node(d.config_dir());
  const std::string d_address = loopback(d_server->port());

  auto c_server = TestCluster::start_node(c->config_dir());

  // B watches the CA node and C; C is a member with an open session on B.
  cluster::PeerMonitor b_monitor(*b, fast_liveness(), 200ms);
  b_monitor.add(ca_address);
  b_monitor.add(loopback(c_server->port()));
  wait_healthy(b_monitor, 2);
  EXPECT_TRUE(watches(b_monitor, c->node_id()));
  auto c_session = cluster::NodeConnection::open(b_address, *c);
  EXPECT_FALSE(c_session->list_devices().empty());
  ASSERT_EQ(call_status(*c, d_address), grpc::StatusCode::OK);

  remove_on_ca(c->node_id());
  const auto took = time_until_refused(*c, b_address);
  ASSERT_TRUE(took) << "B still admits C " << spread_limit.count() << " s after its removal";
  std::printf("removal reached B in %lld ms\n", static_cast<long long>(took->count()));
  EXPECT_EQ(call_status(*c, b_address), grpc::StatusCode::UNAUTHENTICATED);
  try {
    c_session->list_devices();  // the session C opened before its removal
    ADD_FAILURE() << "C's existing session still works on B";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::permission_denied) << e.what();
  }
  EXPECT_TRUE(net::load_signed_revocations(b->config_dir()).contains(c->node_id()));
  EXPECT_EQ(stored_list(b->config_dir()), stored_list(cluster.ca_dir()));
  // B no longer watches (or uses the devices of) the removed node either.
  const auto start = std::chrono::steady_clock::now();
  while (watches(b_monitor, c->node_id()) && std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(watches(b_monitor, c->node_id()));

  // The CA node goes offline; D learns of the removal from B alone.
  ca_server->shutdown(0ms);
  EXPECT_EQ(call_status(*c, d_address), grpc::StatusCode::OK);
  cluster::PeerMonitor d_monitor(d, fast_liveness(), 200ms);
  d_monitor.add(b_address);
  wait_healthy(d_monitor);
  const auto via_b = time_until_refused(*c, d_address);
  ASSERT_TRUE(via_b) << "D still admits C with the CA offline";
  std::printf("removal reached D through B in %lld ms\n", static_cast<long long>(via_b->count()));
  // B and D still serve each other.
  EXPECT_EQ(call_status(d, b_address), grpc::StatusCode::OK);
  EXPECT_EQ(call_status(*b, d_address), grpc::StatusCode::OK);
}

TEST_F(Revocation, ServesOnlyNewerListsToMembers) {
  auto b_server = TestCluster::start_node(b->config_dir());
  auto stub = v1::Revocation::NewStub(c->connect(loopback(b_server->port())));
  const auto ask = [&](std::uint64_t have, v1::RevocationsResponse* response) {
    grpc::ClientContext context;
    v1::RevocationsRequest request;
    request.set_have_version(have);
    return stub->GetRevocations(&context, request, response);
  };
  v1::RevocationsResponse none;
  ASSERT_TRUE(ask(0, &none).ok());
  EXPECT_EQ(none.version(), 0u);
  EXPECT_TRUE(none.signed_list().empty());

  const Bytes list = remove_on_ca(cluster.join(net::Role::monitor, ca_address).node_id());
  ASSERT_EQ(net::accept_signed_revocations(b->config_dir(), list), net::RevocationUpdate::stored);
  v1::RevocationsResponse full;
  ASSERT_TRUE(ask(0, &full).ok());
  EXPECT_EQ(Bytes(full.signed_list().begin(), full.signed_list().end()), list);
  v1::RevocationsResponse current;
  ASSERT_TRUE(ask(full.version(), &current).ok());
  EXPECT_EQ(current.version(), full.version());
  EXPECT_TRUE(current.signed_list().empty());

  // A certificate of another cluster is refused at the TLS layer, before any handler runs.
  TestCluster other("other-cluster");
  auto other_server = other.start_ca_node();
  const net::NodeIdentity stranger = other.join(net::Role::admin, loopback(other_server->port()));
  auto foreign = v1::Revocation::NewStub(stranger.connect(loopback(b_server->port())));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::RevocationsRequest request;
  v1::RevocationsResponse response;
  EXPECT_FALSE(foreign->GetRevocations(&context, request, &response).ok());
}

TEST_F(Revocation, ForgedAndTamperedListsAreRefusedAndNotStored) {
  // Signed by another cluster's CA, even with the right fingerprint copied in.
  TestCluster other("other-cluster");
  const net::ClusterCa other_ca = net::ClusterCa::load(other.ca_dir());
  const net::SignedRevocations foreign = other_ca.sign_revocations({c->node_id()}, 1'000'000);
  expect_refused(foreign.encode(), Errc::permission_denied, "another cluster");
  net::SignedRevocations relabelled = foreign;
  relabelled.ca_fingerprint = net::ClusterCa::load(cluster.ca_dir()).fingerprint();
  expect_refused(relabelled.encode(), Errc::permission_denied, "not signed");

  const Bytes genuine = remove_on_ca(c->node_id());
  net::SignedRevocations tampered = net::SignedRevocations::decode(genuine);
  tampered.version += 1000;
  expect_refused(tampered.encode(), Errc::permission_denied, "not signed");
  tampered = net::SignedRevocations::decode(genuine);
  tampered.node_ids = {b->node_id()};
  expect_refused(tampered.encode(), Errc::permission_denied, "not signed");
  tampered = net::SignedRevocations::decode(genuine);
  tampered.signature.back() ^= 1;
  expect_refused(tampered.encode(), Errc::permission_denied, "not signed");
  EXPECT_FALSE(has_stored_list(b->config_dir()));

  EXPECT_EQ(net::accept_signed_revocations(b->config_dir(), genuine),
            net::RevocationUpdate::stored);
  expect_refused(foreign.encode(), Errc::permission_denied, "another cluster");
}

TEST_F(Revocation, RemoveNodeOnTheCaNodeSignsANewList) {
  const net::NodeIdentity admin = cluster.join(net::Role::admin, ca_address);
  auto stub = v1::Admin::NewStub(admin.connect(ca_address));
  grpc::ClientContext context;
  v1::RemoveNodeRequest request;
  request.set_node_id(c->node_id());
  v1::RemoveNodeResponse response;
  ASSERT_TRUE(stub->RemoveNode(&context, request, &response).ok());
  const net::SignedRevocations list = net::load_signed_revocations(cluster.ca_dir());
  EXPECT_TRUE(list.contains(c->node_id()));
  EXPECT_NO_THROW(list.verify(net::ClusterCa::load(cluster.ca_dir()).certificate_pem()));
  EXPECT_EQ(net::accept_signed_revocations(b->config_dir(), list.encode()),
            net::RevocationUpdate::stored);
}

TEST_F(Revocation, AListOfAPreviousClusterInTheFolderIsIgnored) {
  // A folder reused for a new cluster may still hold the old cluster's list: it neither refuses
  // anyone here nor blocks the new cluster's first list.
  TestCluster other("other-cluster");
  const net::SignedRevocations old =
      net::ClusterCa::load(other.ca_dir()).sign_revocations({c->node_id()}, 1'000'000'000'000'000);
  const Bytes bytes = old.encode();
  std::ofstream(b->config_dir() / "revocations.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  EXPECT_EQ(net::load_signed_revocations(b->config_dir()).version, 0u);
  auto b_server = TestCluster::start_node(b->config_dir());
  EXPECT_EQ(call_status(*c, loopback(b_server->port())), grpc::StatusCode::OK);
  EXPECT_EQ(net::accept_signed_revocations(b->config_dir(), remove_on_ca(c->node_id())),
            net::RevocationUpdate::stored);
  EXPECT_EQ(call_status(*c, loopback(b_server->port())), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(Revocation, AnOlderListNeverRollsBackANewerOne) {
  const Bytes first = remove_on_ca(c->node_id());
  const Bytes second = remove_on_ca(cluster.join(net::Role::monitor, ca_address).node_id());
  const auto v1 = net::SignedRevocations::decode(first);
  const auto v2 = net::SignedRevocations::decode(second);
  ASSERT_GT(v2.version, v1.version);
  EXPECT_TRUE(v2.contains(c->node_id()));  // the newer list is a superset
  EXPECT_FALSE(net::RevocationList::revoke(cluster.ca_dir(), c->node_id()));  // no new version
  EXPECT_EQ(stored_list(cluster.ca_dir()), second);

  EXPECT_EQ(net::accept_signed_revocations(b->config_dir(), second), net::RevocationUpdate::stored);
  EXPECT_EQ(net::accept_signed_revocations(b->config_dir(), first),
            net::RevocationUpdate::not_newer);
  EXPECT_EQ(net::accept_signed_revocations(b->config_dir(), second),
            net::RevocationUpdate::not_newer);
  EXPECT_EQ(stored_list(b->config_dir()), second);
}

TEST_F(Revocation, MalformedListsGiveClearErrors) {
  const Bytes genuine = remove_on_ca(c->node_id());
  expect_refused({}, Errc::invalid_argument, "truncated");
  for (std::size_t n = 1; n < genuine.size(); ++n) {
    expect_refused(Bytes(genuine.begin(), genuine.begin() + n), Errc::invalid_argument,
                   "truncated");
  }
  Bytes longer = genuine;
  longer.push_back(0);
  expect_refused(longer, Errc::invalid_argument, "after the signature");
  Bytes magic = genuine;
  magic[0] = 'X';
  expect_refused(magic, Errc::invalid_argument, "magic");
  Bytes format = genuine;
  format[4] = 9;
  expect_refused(format, Errc::invalid_argument, "format 9");
  Bytes count = genuine;
  count[4 + 1 + 32 + 8] = 0xff;  // the node count's high byte: far over the limit
  expect_refused(count, Errc::invalid_argument, "limit");
  expect_refused(Bytes(net::SignedRevocations::max_encoded_bytes + 1), Errc::invalid_argument,
                 "exceeds");
  std::mt19937 random(7);
  for (int i = 0; i < 200; ++i) {
    Bytes noise(random() % 256);
    for (auto& byte : noise) byte = static_cast<std::uint8_t>(random());
    expect_refused(noise, Errc::invalid_argument, "");
  }
  EXPECT_FALSE(has_stored_list(b->config_dir()));

  // A damaged stored list fails closed: the node refuses every caller rather than readmit.
  std::ofstream(b->config_dir() / "revocations.bin", std::ios::binary) << "damaged";
  EXPECT_THROW(net::load_signed_revocations(b->config_dir()), Error);
  auto b_server = TestCluster::start_node(b->config_dir());
  EXPECT_EQ(call_status(cluster.join(net::Role::compute, ca_address), loopback(b_server->port())),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace crossgpu::testing
