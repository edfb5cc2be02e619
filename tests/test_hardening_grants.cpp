// Peer copies can only reach cluster members (cluster/peer_links.hpp, peer_copy.cpp): a compute
// client asks node A to copy to a destination with forged, replayed, expired and foreign grants,
// naming a non-member TCP listener, a unix socket path and another cluster's node. A refuses
// each before connecting anywhere (the listeners see no connection, the foreign node no session)
// with one error text that names nothing, over the data channel and over gRPC alike. A grant
// that claims a member as issuer but was forged goes only to that member, which refuses it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

#include "cluster/node_connection.hpp"
#include "cluster/peer_links.hpp"
#include "crossgpu/v1/node.pb.h"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

// A listener that must never see a connection.
class Tripwire {
 public:
  explicit Tripwire(const std::filesystem::path& unix_path = {}) {
    if (unix_path.empty()) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
      socklen_t length = sizeof(address);
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
      name_ = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    } else {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", unix_path.c_str());
      ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
      name_ = "unix:" + unix_path.string();
    }
    ::listen(fd_, 16);
  }
  ~Tripwire() { ::close(fd_); }
  const std::string& name() const noexcept { return name_; }
  bool touched() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  std::string name_;
};

TEST(MemberOnlyPeerCopies, EveryGrantNotNamingAMemberIsRefusedBeforeAnyConnection) {
  TestCluster cluster;
  auto node_a = cluster.start_ca_node();
  const std::string address_a = loopback(node_a->port());
  auto node_b = TestCluster::start_node(cluster.join(net::Role::compute, address_a).config_dir());
  const net::NodeIdentity client = cluster.join(net::Role::compute, address_a);
  // Another cluster's node: its grants are genuine, but it is no member of this cluster.
  TestCluster foreign_cluster("foreign");
  auto foreign = foreign_cluster.start_ca_node();
  const net::NodeIdentity foreign_client =
      foreign_cluster.join(net::Role::compute, loopback(foreign->port()));
  auto to_foreign = cluster::NodeConnection::open(loopback(foreign->port()), foreign_client);

  TempDir dir("tripwire");
  const Tripwire tcp;
  const Tripwire unix_socket(dir.path() / "node.sock");
  auto b = cluster::NodeConnection::open(loopback(node_b->port()), client);
  const std::uint64_t dst = b->allocate(b->list_devices().front().id, 4096, false);

  for (const bool data_channel : {true, false}) {
    SCOPED_TRACE(data_channel ? "peer-copy request" : "PeerCopy call");
    cluster::ConnectionOptions options;
    options.data_channel = data_channel;
    auto a = cluster::NodeConnection::open(address_a, client, options);
    const std::uint64_t src = a->allocate(a->list_devices().front().id, 4096, false);
    const v1::WriteGrant genuine = b->grant_write(dst, 0, 4096, a->node_id());

    v1::WriteGrant forged = genuine;  // issued by a node nobody knows
    forged.set_issuer_node_id(std::string(64, 'e'));
    v1::WriteGrant replayed = b->grant_write(dst, 0, 4096, client.node_id());  // not A's
    v1::WriteGrant expired = genuine;
    expired.set_expires_unix_seconds(genuine.expires_unix_seconds() - 3600);
    const std::uint64_t foreign_dst =
        to_foreign->allocate(to_foreign->list_devices().front().id, 4096, false);
    const v1::WriteGrant foreign_grant = to_foreign->grant_write(foreign_dst, 0, 4096, a->node_id());
    const std::size_t foreign_sessions = foreign->sessions().sessions().size();

    const std::vector<std::pair<const v1::WriteGrant*, std::string>> refused = {
        {&forged, tcp.name()},        {&forged, unix_socket.name()},
        {&replayed, tcp.name()},      {&expired, loopback(node_b->port())},
        {&foreign_grant, loopback(foreign->port())}, {&foreign_grant, unix_socket.name()}};
    std::string first_text;
    for (const auto& [grant, destination] : refused) {
      SCOPED_TRACE(destination);
      try {
        a->peer_copy(src, 0, destination, *grant);
        ADD_FAILURE() << "the copy was not refused";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::permission_denied);
        const std::string text = e.what();
        EXPECT_NE(text.find(cluster::kNotAMember), std::string::npos) << text;
        // One text for every refusal: it names no address, port, path or node.
        if (first_text.empty()) first_text = text;
        EXPECT_EQ(text, first_text);
        EXPECT_EQ(text.find(destination.substr(destination.find(':') + 1)), std::string::npos);
        EXPECT_EQ(text.find(grant->issuer_node_id()), std::string::npos);
      }
    }
    EXPECT_FALSE(tcp.touched()) << "A connected to a non-member listener";
    EXPECT_FALSE(unix_socket.touched()) << "A connected to a unix socket";
    EXPECT_EQ(foreign->sessions().sessions().size(), foreign_sessions)
        << "A opened a session on another cluster's node";

    // A forged MAC under a member's name goes to that member only, which refuses it.
    v1::WriteGrant wrong_key = genuine;
    wrong_key.set_mac(std::string(32, '\0'));
    EXPECT_TRUE(throws_errc([&] { a->peer_copy(src, 0, tcp.name(), wrong_key); },
                            Errc::invalid_argument, "altered"));
    // And the genuine grant still works, whatever address the request names.
    EXPECT_EQ(a->peer_copy(src, 0, tcp.name(), genuine), 4096u);
    EXPECT_FALSE(tcp.touched());
  }
}

TEST(MemberOnlyPeerCopies, ANodeWithoutADirectoryKnowsNoMembers) {
  TestCluster cluster;
  auto node = cluster.start_ca_node();
  const net::NodeIdentity identity = net::NodeIdentity::load(cluster.ca_dir());
  const cluster::PeerLinks none(identity, {});
  EXPECT_EQ(none.resolve(node->node_id()), "");
  const cluster::PeerLinks with(identity, [&](const std::string& id) {
    return fixture_member_address(identity.ca_pem(), id);
  });
  EXPECT_EQ(with.resolve(""), "");
  EXPECT_EQ(with.resolve(std::string(64, 'f')), "");
}

}  // namespace
}  // namespace crossgpu::testing
