// One connection of the data channel, server side: handshake, authentication, bind to a session,
// then requests served in order until the client closes. Used by DataChannelServer only.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster/data_frame.hpp"
#include "cluster/peer_links.hpp"
#include "cluster/session_table.hpp"
#include "cluster/stage_chain.hpp"
#include "cluster/write_grant.hpp"
#include "core/error.hpp"
#include "net/security.hpp"
#include "net/tls_socket.hpp"

namespace crossgpu::cluster {

// What the data connections of a node serve: its sessions, the grants it issued (granted writes
// from other nodes into its clients' buffers) and its links to other nodes (the peer copies its
// clients ask for).
struct DataServices {
  SessionTable& sessions;
  const GrantAuthority& grants;
  PeerLinks& peer_links;
  // Counts the decode-chain steps served (a client's chain step, a node's chain forward).
  std::atomic<std::uint64_t>& chain_steps;
  // Counts the node-to-node copies served (peer copies, rounded to f16 or not).
  std::atomic<std::uint64_t>& peer_copies;
};

class DataConnection {
 public:
  DataConnection(std::unique_ptr<net::TlsSocket> socket, const net::Authenticator& authenticator,
                 DataServices services)
      : socket_(std::move(socket)),
        authenticator_(authenticator),
        sessions_(services.sessions),
        grants_(services.grants),
        peer_links_(services.peer_links),
        chain_steps_(services.chain_steps),
        peer_copies_(services.peer_copies) {}

  // Authenticates, binds and serves until the peer closes or breaks the protocol. Never throws.
  void run() noexcept;

 private:
  // Checks the certificate (role compute, not revoked) and the bind request; false when refused
  // (the peer got an error reply).
  bool admit();
  void serve_write(const DataFrame& request);
  // A node-to-node copy's part: the payload's grant (issued by this node to the connected peer)
  // names the buffer, which belongs to another session (the client that asked for the copy).
  void serve_granted_write(const DataFrame& request);
  // Reads `bytes` of payload into [offset, +bytes) of `target` of `session`, then replies.
  void receive_into(Session& session, const SessionBuffer& target, const DataFrame& request,
                    std::uint64_t offset, std::uint64_t bytes);
  void serve_read(const DataFrame& request);
  // A client's node-to-node copy from its buffer here to another node (src/cluster/peer_copy.hpp),
  // rounded to f16 values on the way for op peer_copy_f16.
  void serve_peer_copy(const DataFrame& request);
  // Decode chains (data_connection_chain.cpp): a step from the client, one passed on by the
  // previous stage's node under the grant this node gave it, a failure passed on, the client's
  // wait for the last stage's result.
  void serve_chain_step(const DataFrame& request);
  void serve_chain_forward(const DataFrame& request);
  void serve_chain_abort(const DataFrame& request);
  void serve_chain_await(const DataFrame& request);
  void serve_chain_sample(const DataFrame& request);
  // Reads a chain forward's or abort's grant; the chain it names, in the session that granted.
  struct GrantedChain {
    std::shared_ptr<Session> owner;
    std::shared_ptr<StageChain> chain;
  };
  std::optional<GrantedChain> read_granted_chain(const DataFrame& request, std::uint64_t& rest);
  // Runs the step and passes its result (or failure) on, letting go of the chain and its session
  // first; never throws.
  void continue_chain(GrantedChain step, std::uint32_t position, std::span<const std::byte> input) noexcept;
  void pass_failure(GrantedChain step, const Error& error) noexcept;
  // The bound session; Errc::device_lost once it ended (its client disconnected).
  std::shared_ptr<Session> session() const;
  void reply(const DataFrame& request, std::uint64_t length = 0);
  void reply_error(const DataFrame& request, const Error& error);
  // Reads and drops `bytes` of payload of a refused write, so the next header is in step.
  void discard(std::uint64_t bytes);

  std::unique_ptr<net::TlsSocket> socket_;
  const net::Authenticator& authenticator_;
  SessionTable& sessions_;
  const GrantAuthority& grants_;
  PeerLinks& peer_links_;
  std::atomic<std::uint64_t>& chain_steps_;
  std::atomic<std::uint64_t>& peer_copies_;
  // Re-checks the certificate (revocation, role) before a request when the last check is older
  // than kRecheckInterval: a node removed from the cluster after it bound loses the connection
  // at its next request after that. Not on every request: the check stats the revocation file,
  // a measurable part of a 7 us round trip.
  void check_still_admitted();

  net::PeerIdentity peer_;
  std::string certificate_pem_;
  std::chrono::steady_clock::time_point checked_at_{};
  std::weak_ptr<Session> session_;  // weak: a data connection never keeps a session alive
  std::uint64_t session_id_ = 0;
  std::uint64_t lane_ = 0;
  std::vector<std::byte> staging_;  // for buffers without a host mapping
};

}  // namespace crossgpu::cluster
