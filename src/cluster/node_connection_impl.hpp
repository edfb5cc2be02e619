// Internals of NodeConnection shared by node_connection.cpp (session, heartbeats, loss) and
// node_connection_calls.cpp (the RPCs).
#pragma once

#include <grpcpp/grpcpp.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <span>
#include <thread>

#include "cluster/data_channel_client.hpp"
#include "cluster/grant_cache.hpp"
#include "cluster/node_connection.hpp"
#include "crossgpu/v1/node.grpc.pb.h"

namespace crossgpu::cluster {

// A dispatch's wire form (DispatchRequest), for Dispatch, Run and Record alike.
void to_wire(v1::DispatchRequest& request, std::string_view kernel, std::span<const RemoteRange> bindings,
             std::span<const std::byte> push, Groups groups);

struct NodeConnection::Impl {
  std::string address;
  std::string local_node_id;
  ConnectionOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Node::Stub> stub;
  v1::HelloResponse hello;
  std::string session_text;  // hello.session_id() as metadata

  // The Session stream and its two threads: one sends heartbeats and watches for silence, one
  // reads the echoes.
  grpc::ClientContext session_context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SessionEvent, v1::SessionEvent>> session;
  std::thread heartbeat_thread;
  std::thread reader_thread;
  std::atomic<std::int64_t> last_echo_nanos{0};  // steady clock
  std::atomic<double> rtt_ms{0};
  std::atomic<bool> lost{false};
  // What was observed when the node was lost (a string literal): calls fail with it.
  std::atomic<const char*> lost_why{nullptr};
  std::atomic<bool> closing{false};
  std::mutex wake_mutex;
  std::condition_variable wake;

  // The data channel for writes and reads, when the node offers one and it bound; else null and
  // writes and reads go over gRPC.
  std::unique_ptr<DataChannelClient> data;

  // True when the data channel is usable and Hello listed `capability` (the data requests a node
  // serves beyond write and read: "data-granted-write", "data-peer-copy").
  bool data_offers(std::string_view capability) const {
    if (!data || data->broken()) return false;
    const auto& caps = hello.capabilities();
    return std::find(caps.begin(), caps.end(), capability) != caps.end();
  }

  // Grants this node gave us for node-to-node copies into our buffers, reused while fresh.
  GrantCache grants;

  // Batched work (node_connection_batch.cpp): commands queued for one Run, in order. Every
  // other call sends them first (send_batch), so the node sees the session's work in order.
  std::mutex batch_mutex;
  v1::RunRequest batch;
  std::uint64_t batch_write_bytes = 0;
  std::atomic<std::uint64_t> runs_sent{0};
  std::vector<SentCommand> last_run;  // under batch_mutex
  // Sends the queued commands as one Run; `read` receives the data of a read queued last.
  void send_batch_locked(std::span<std::byte> read = {});
  void remember_run(const v1::RunRequest& request);
  void send_batch();

  // Calls in flight, cancelled all at once when the node is lost.
  std::mutex calls_mutex;
  std::set<grpc::ClientContext*> calls;

  // A context for one call: session metadata, deadline (unary calls), registered for cancel.
  class Call {
   public:
    Call(Impl& impl, bool unary);
    ~Call();
    grpc::ClientContext context;
    // Throws the call's failure: Errc::device_lost when the node is lost or unreachable, else
    // the node's typed error.
    void check(const grpc::Status& status, std::string_view what) const;

   private:
    Impl& impl_;
  };

  void start_session();
  // Opens the data channel when Hello offered one; a failure leaves gRPC to carry the data.
  void open_data_channel(const net::NodeIdentity& identity);
  // Runs a data-channel transfer, turning its failures into the errors gRPC calls give.
  template <typename Body>
  void data_call(std::string_view what, Body&& body);
  void heartbeat_loop();
  void reader_loop();
  // Every call fails with Errc::device_lost from now on; `unexpected` false: the node said it
  // was stopping (logged as information, not as a warning).
  void mark_lost(const char* why, bool unexpected = true);
  [[noreturn]] void fail_lost(std::string_view what) const;
};

template <typename Body>
inline void NodeConnection::Impl::data_call(std::string_view what, Body&& body) {
  if (lost) fail_lost(what);
  if (closing) {
    fail(Errc::device_lost, "{}: the connection to node {} at {} was closed", what,
         hello.node_id(), address);
  }
  try {
    body();
  } catch (const Error& e) {
    if (lost) fail_lost(what);
    // The connection broke under the transfer while the session lives on (heartbeats still
    // answer): the transfer's fate is unknown, and later transfers go over gRPC.
    if (e.code() == Errc::io) {
      fail(Errc::device_lost, "{} on node {} at {}: the data channel broke ({})", what,
           hello.node_id(), address, e.what());
    }
    throw Error(e.code(), fmt::format("{} on node {}: {}", what, address, e.what()));
  }
}

}  // namespace crossgpu::cluster
