// The Node service: the node's devices served to authenticated peers, one session per client.
// Every call is authorized (role) first, then resolved against the caller's own session, then
// validated field by field before any device is touched. Included only by node_server.cpp and
// tests: it brings in gRPC.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/data_connection.hpp"
#include "cluster/peer_links.hpp"
#include "cluster/call_counts.hpp"
#include "cluster/session_table.hpp"
#include "cluster/weight_cache.hpp"
#include "cluster/write_grant.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "device/device.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {

// What the node knows about other nodes (liveness fills it); empty when nothing is tracked.
using PeerStatusSource = std::function<std::vector<v1::PeerStatus>()>;

class NodeService final : public v1::Node::Service {
 public:
  NodeService(std::vector<std::shared_ptr<Device>> devices, const net::NodeIdentity& identity,
              const net::Authenticator& authenticator, SessionLimits limits,
              PeerStatusSource peers, WeightCacheOptions cache, MemberDirectory members = {});

  SessionTable& sessions() noexcept { return sessions_; }
  NodeCallCounts call_counts() const noexcept {
    return {counters_.run_calls.load(), counters_.record_calls.load(), counters_.dispatch_calls.load(),
            counters_.chain_steps.load(), counters_.peer_copies.load()};
  }
  // What the node's data channel serves besides the sessions' own buffers.
  DataServices data_services() noexcept {
    return {sessions_, grants_, peer_links_, counters_.chain_steps, counters_.peer_copies};
  }
  // From now on Hello offers the data channel on `port` (capability "data-channel") with a
  // one-time secret per session.
  void enable_data_channel(int port) noexcept { data_port_ = port; }
  // From now on each Session stream ends at its next heartbeat with a goodbye (node_stopping).
  void begin_stopping() noexcept { stopping_ = true; }

  grpc::Status Hello(grpc::ServerContext*, const v1::HelloRequest*, v1::HelloResponse*) override;
  grpc::Status Session(grpc::ServerContext*,
                       grpc::ServerReaderWriter<v1::SessionEvent, v1::SessionEvent>*) override;
  grpc::Status ListDevices(grpc::ServerContext*, const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override;
  grpc::Status Allocate(grpc::ServerContext*, const v1::AllocateRequest*,
                        v1::AllocateResponse*) override;
  grpc::Status Free(grpc::ServerContext*, const v1::FreeRequest*, v1::FreeResponse*) override;
  grpc::Status Write(grpc::ServerContext*, grpc::ServerReader<v1::WriteChunk>*,
                     v1::WriteResponse*) override;
  grpc::Status Read(grpc::ServerContext*, const v1::ReadRequest*,
                    grpc::ServerWriter<v1::ReadChunk>*) override;
  grpc::Status Copy(grpc::ServerContext*, const v1::CopyRequest*, v1::CopyResponse*) override;
  grpc::Status Dispatch(grpc::ServerContext*, const v1::DispatchRequest*,
                        v1::DispatchResponse*) override;
  grpc::Status Synchronize(grpc::ServerContext*, const v1::SynchronizeRequest*,
                           v1::SynchronizeResponse*) override;
  grpc::Status FillFromCache(grpc::ServerContext*, const v1::FillFromCacheRequest*,
                             v1::FillFromCacheResponse*) override;
  grpc::Status StoreToCache(grpc::ServerContext*, const v1::StoreToCacheRequest*,
                            v1::StoreToCacheResponse*) override;
  grpc::Status Run(grpc::ServerContext*, const v1::RunRequest*, v1::RunResponse*) override;
  grpc::Status Record(grpc::ServerContext*, const v1::RecordRequest*, v1::RecordResponse*) override;
  grpc::Status ReleaseProgram(grpc::ServerContext*, const v1::ReleaseProgramRequest*,
                              v1::ReleaseProgramResponse*) override;
  grpc::Status SetupChain(grpc::ServerContext*, const v1::ChainSetupRequest*, v1::ChainSetupResponse*) override;
  grpc::Status ReleaseChain(grpc::ServerContext*, const v1::ReleaseChainRequest*,
                            v1::ReleaseChainResponse*) override;
  grpc::Status GrantWrite(grpc::ServerContext*, const v1::WriteGrantRequest*,
                          v1::WriteGrant*) override;
  grpc::Status PeerCopy(grpc::ServerContext*, const v1::PeerCopyRequest*,
                        v1::PeerCopyResponse*) override;
  grpc::Status GrantedWrite(grpc::ServerContext*, grpc::ServerReader<v1::GrantedWriteChunk>*,
                            v1::WriteResponse*) override;

 private:
  // Authorizes the caller for `need`, takes a place in its call quota (the authenticator's,
  // shared with the server's other services) for as long as `body(peer)`
  // runs, and turns a thrown Error into its status (past the quota: RESOURCE_EXHAUSTED).
  template <typename Body>
  grpc::Status serve(grpc::ServerContext* context, net::Role need, const char* what, Body&& body);
  // The caller's session, from the crossgpu-session metadata.
  std::shared_ptr<cluster::Session> session_of(const grpc::ServerContext& context,
                                               const net::PeerIdentity& peer) const;
  std::shared_ptr<Device> device(const std::string& id) const;

  const std::vector<std::shared_ptr<Device>> devices_;
  const net::NodeIdentity& identity_;
  const net::Authenticator& authenticator_;
  SessionTable sessions_;
  GrantAuthority grants_;
  PeerLinks peer_links_;  // to other members, for PeerCopy
  PeerStatusSource peers_;
  WeightCache weight_cache_;  // blobs named by hash, shared by all sessions
  std::atomic<int> data_port_{0};  // 0: no data channel
  std::atomic<bool> stopping_{false};
  struct {
    std::atomic<std::uint64_t> run_calls{0}, record_calls{0}, dispatch_calls{0};
    std::atomic<std::uint64_t> chain_steps{0};  // chain steps and forwards (data channel)
    std::atomic<std::uint64_t> peer_copies{0};  // node-to-node copies sent (data channel)
  } counters_;
};

}  // namespace crossgpu::cluster
