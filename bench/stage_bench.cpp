// crossgpu-stage-bench: what a remote stage costs per decoded token. A generated model runs on the
// local CPU device (the baseline: no network) and split over 1, 2 and 3 nodes of this process
// (each a CPU device), reached through delaying relays that add a chosen round trip to every
// link (client to node and node to node). Per run: decode ms/token, the overhead over the local
// run, that overhead in link round trips (measured in the same run with a raw TCP ping through
// the same kind of relay), the network requests each node served per token, and whether the
// greedy tokens equal the local run's. Not part of make test.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/table.hpp"
#include "cluster/node_server.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "core/error.hpp"
#include "device/cpu/cpu_device.hpp"
#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "net/security.hpp"
#include "runtime/decode_chain.hpp"
#include "runtime/prefill_pipeline.hpp"
#include "runtime/stage_transport.hpp"
#include "support/delay_relay.hpp"

namespace crossgpu::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<double> rtt_ms = {0, 1, 3};
  std::vector<std::size_t> stages = {1, 2, 3};
  std::string mover = "client";  // client | peer | chain (node to node, the client relay beside it) | prefill
  bool per_op = false;           // the baseline: one request per op, decode not recorded
  std::size_t threads = 0;       // CPU device threads (nodes and baseline); 0: every core
  std::uint32_t layers = 6, embedding = 512, ffn = 1536, heads = 8, kv_heads = 4;
  std::uint32_t prompt_tokens = 8, decode_tokens = 16;
  std::uint32_t context = 256, max_batch = 32;  // per stage (--mover prefill: prompt + decode, 64)
  std::uint32_t micro_batch = 32;               // --mover prefill: tokens per micro-batch
  int repeats = 3;
  std::string json_path = "stage-bench-results.json";
};

// A 1-byte echo over TCP through a relay: the link's own round trip, the baseline.
double tcp_round_trip_ms(std::chrono::microseconds one_way) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    fail(Errc::io, "tcp ping: cannot listen");
  }
  std::thread echo([listener] {
    const int fd = ::accept(listener, nullptr, nullptr);
    char byte;
    while (::recv(fd, &byte, 1, 0) == 1) ::send(fd, &byte, 1, MSG_NOSIGNAL);
    ::close(fd);
  });
  double median = 0;
  {
    testing::DelayRelay relay("127.0.0.1", 0, "127.0.0.1", ntohs(addr.sin_port), one_way);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in to = addr;
    to.sin_port = htons(relay.port());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) fail(Errc::io, "tcp ping: cannot connect");
    std::vector<double> samples;
    for (int i = 0; i < 21; ++i) {
      const auto start = Clock::now();
      char byte = 'x';
      if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1 || ::recv(fd, &byte, 1, 0) != 1) fail(Errc::io, "tcp ping failed");
      samples.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    ::close(fd);
    std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
    median = samples[samples.size() / 2];
  }
  echo.join();
  ::close(listener);
  return median;
}

// Three nodes of this process on loopback, each serving one CPU device: the first holds the
// cluster's CA, the others joined it. The client uses the first node's identity.
class Nodes {
 public:
  Nodes(const std::filesystem::path& dir, std::size_t threads) : dir_(dir) {
    net::ClusterCa::create(dir / "node-0", "stage-bench");
    for (int i = 0; i < 3; ++i) {
      const auto node_dir = dir / fmt::format("node-{}", i);
      if (i > 0) {
        const net::ClusterCa ca = net::ClusterCa::load(dir / "node-0");
        net::join_cluster(ca.create_invite(net::Role::compute, std::chrono::minutes(5), {address(0)}).encode(),
                          node_dir, fmt::format("stage-bench-{}", i));
      }
      cluster::NodeServerOptions options;
      options.config_dir = node_dir;
      options.listen_address = "127.0.0.1:0";
      // Members reach each other through the relays in front of them (relay_node), so a chain's
      // node-to-node hops cross the same delayed links as the client's requests.
      options.members = [this](const std::string& node_id) { return member_address(node_id); };
      servers_.push_back(std::make_unique<cluster::NodeServer>(std::vector{make_cpu_device(threads)}, options));
      servers_.back()->start();
    }
    identity_ = std::make_unique<net::NodeIdentity>(net::NodeIdentity::load(dir / "node-0"));
  }
  std::string address(std::size_t i) const { return "127.0.0.1:" + std::to_string(servers_.at(i)->port()); }
  std::string member_address(const std::string& node_id) const {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (servers_[i]->node_id() == node_id) return fmt::format("127.0.0.{}:{}", 10 + i, servers_[i]->port());
    }
    return {};
  }
  cluster::NodeServer& server(std::size_t i) { return *servers_.at(i); }
  const net::NodeIdentity& identity() const { return *identity_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<cluster::NodeServer>> servers_;
  std::unique_ptr<net::NodeIdentity> identity_;
};

// Relays in front of node i on 127.0.0.(10+i): its gRPC port and its data port, each delayed.
struct LinkRelays {
  std::vector<std::unique_ptr<testing::DelayRelay>> relays;
  std::string address;
};

LinkRelays relay_node(std::size_t i, std::uint16_t grpc_port, std::uint16_t data, std::chrono::microseconds one_way) {
  LinkRelays link;
  const std::string host = fmt::format("127.0.0.{}", 10 + i);
  link.relays.push_back(std::make_unique<testing::DelayRelay>(host, grpc_port, "127.0.0.1", grpc_port, one_way));
  if (data != 0) link.relays.push_back(std::make_unique<testing::DelayRelay>(host, data, "127.0.0.1", data, one_way));
  link.address = fmt::format("{}:{}", host, grpc_port);
  return link;
}

std::uint32_t bench_context = 256, bench_max_batch = 32;  // set from Options in run()

model::Pipeline build(const model::LlamaConfig& config, const model::GgufFile& file,
                      const std::vector<std::shared_ptr<Device>>& devices, model::ActivationMover mover,
                      bool recorded = true) {
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  const std::size_t n = devices.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto first = static_cast<std::uint32_t>(config.layers * i / n);
    const auto end = static_cast<std::uint32_t>(config.layers * (i + 1) / n);
    stages.push_back(std::make_unique<model::LlamaStage>(
        config, file, devices[i], model::StageRange{first, end, i == 0, i + 1 == n},
        model::StageOptions{.context = bench_context, .max_batch = bench_max_batch, .recorded_decode = recorded}));
  }
  return model::Pipeline(config, std::move(stages), std::move(mover));
}

model::Pipeline build_chained(const model::LlamaConfig& config, const model::GgufFile& file,
                              const std::vector<std::shared_ptr<Device>>& devices, runtime::HiddenWire wire) {
  model::Pipeline pipeline = build(config, file, devices, runtime::activation_mover(wire));
  pipeline.set_decode_chain(runtime::node_chain_for(pipeline));
  return pipeline;
}

// The prompt every run uses: o.prompt_tokens ids, spread over the vocabulary.
std::vector<std::uint32_t> bench_prompt(const Options& o, std::uint32_t vocab) {
  std::vector<std::uint32_t> prompt;
  for (std::uint32_t i = 0; i < o.prompt_tokens; ++i) prompt.push_back(3 + (i * 7) % (vocab - 3));
  return prompt;
}

struct Decode {
  double ms_per_token = 0;
  std::vector<std::uint32_t> tokens;
};

Decode decode(model::Pipeline& pipeline, const Options& o) {
  const std::vector<std::uint32_t> prompt = bench_prompt(o, pipeline.config().vocab);
  model::GenerateOptions g;
  g.max_tokens = o.decode_tokens;
  std::vector<double> samples;
  Decode out;
  for (int r = 0; r < o.repeats + 1; ++r) {  // the first run records the programs: not timed
    const model::GenerateResult result = model::generate(pipeline, prompt, g);
    if (r > 0) samples.push_back(result.decode_seconds * 1e3 / static_cast<double>(std::max<std::uint64_t>(result.decode_passes, 1)));
    out.tokens = result.tokens;
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  out.ms_per_token = samples[samples.size() / 2];
  return out;
}

// Network messages per decoded token over all stages (StageStats, counted by the runtime's chain):
// relayed, a request and a reply per remote stage; chained, stage boundaries + 1.
double messages_per_token(const model::Pipeline& pipeline) {
  double total = 0;
  for (const model::StageStats& st : pipeline.stats()) {
    if (st.message_steps > 0) total += static_cast<double>(st.messages) / static_cast<double>(st.message_steps);
  }
  return total;
}

// Hidden-state bytes a decoded token moves between stages (all boundaries), from one more run
// after decode() learned the chain: the stages' bytes_out less the prompt's (relayed as f32).
double hidden_bytes_per_token(model::Pipeline& pipeline, const Options& o) {
  const std::vector<std::uint32_t> prompt = bench_prompt(o, pipeline.config().vocab);
  model::GenerateOptions g;
  g.max_tokens = o.decode_tokens;
  pipeline.reset_stats();
  const model::GenerateResult result = model::generate(pipeline, prompt, g);
  double bytes = 0;
  for (const model::StageStats& st : pipeline.stats()) bytes += static_cast<double>(st.bytes_out);
  const double boundaries = static_cast<double>(pipeline.stages().size() - 1);
  bytes -= boundaries * o.prompt_tokens * pipeline.config().embedding * sizeof(float);
  return bytes / static_cast<double>(std::max<std::uint64_t>(result.decode_passes, 1));
}

// A chain over the given devices, its ms/token, tokens, messages and hidden bytes per token.
struct ChainRun {
  Decode decode;
  double messages = 0, hidden_bytes = 0;
};

ChainRun run_chain(const model::LlamaConfig& config, const model::GgufFile& file,
                   const std::vector<std::shared_ptr<Device>>& devices, const Options& o, runtime::HiddenWire wire) {
  model::Pipeline chained = build_chained(config, file, devices, wire);
  ChainRun run;
  run.decode = decode(chained, o);
  run.messages = messages_per_token(chained);
  run.hidden_bytes = hidden_bytes_per_token(chained, o);
  return run;
}  // freed before the next build: one set of stages per node at a time

// One row of the chain table: the relay (the baseline) and the chain, hidden states as f32 and as
// f16 on the wire, over the same links in the same run.
void chain_row(const model::LlamaConfig& config, const model::GgufFile& file,
               const std::vector<std::shared_ptr<Device>>& devices, const Options& o, const Decode& baseline, double rtt,
               double link_rtt, apps::Table& table, nlohmann::json& results) {
  using runtime::HiddenWire;
  setenv("CROSSGPU_NODE_CHAIN", "off", 1);  // the chain object only counts messages
  const ChainRun relay = run_chain(config, file, devices, o, HiddenWire::f16);
  unsetenv("CROSSGPU_NODE_CHAIN");
  const ChainRun f32 = run_chain(config, file, devices, o, HiddenWire::f32);
  const ChainRun chain = run_chain(config, file, devices, o, HiddenWire::f16);
  const double overhead = chain.decode.ms_per_token - baseline.ms_per_token;
  const double one_way = link_rtt / 2;
  // f32 boundaries are exact: one device's tokens. f16 ones round at each boundary, the same way
  // relayed and chained: the f16 chain must give the f16 relay's tokens (one device's, unless a
  // near-tie flipped).
  const bool same = f32.decode.tokens == baseline.tokens && chain.decode.tokens == relay.decode.tokens;
  const bool f16_as_local = chain.decode.tokens == baseline.tokens;
  // Besides the hidden states, a decoded token's messages carry its id in and, relayed, the
  // logits out; a chain's last node answers the greedy token (generate asks only for it).
  const double relay_result_bytes = sizeof(std::uint32_t) + static_cast<double>(config.vocab) * sizeof(float);
  const double chain_result_bytes = 2 * sizeof(std::uint32_t);
  table.add_row({fmt::format("{:g}", rtt), fmt::format("{:.3f}", link_rtt), std::to_string(devices.size()),
                 fmt::format("{:.3f}", relay.decode.ms_per_token), fmt::format("{:.3f}", f32.decode.ms_per_token),
                 fmt::format("{:.3f}", chain.decode.ms_per_token), fmt::format("{:.3f}", baseline.ms_per_token),
                 fmt::format("{:.3f}", overhead), one_way > 0.05 ? fmt::format("{:.2f}", overhead / one_way) : "-",
                 fmt::format("{:.2f}", relay.messages), fmt::format("{:.2f}", chain.messages),
                 fmt::format("{:.0f} / {:.0f}", f32.hidden_bytes, chain.hidden_bytes),
                 fmt::format("{:.0f} / {:.0f}", relay_result_bytes, chain_result_bytes), same ? "yes" : "NO",
                 f16_as_local ? "yes" : "no"});
  results.push_back({{"added_rtt_ms", rtt}, {"link_rtt_ms", link_rtt}, {"stages", devices.size()},
                     {"relay_ms_per_token", relay.decode.ms_per_token},
                     {"chain_f32_ms_per_token", f32.decode.ms_per_token}, {"chain_ms_per_token", chain.decode.ms_per_token},
                     {"local_ms_per_token", baseline.ms_per_token}, {"relay_messages_per_token", relay.messages},
                     {"chain_messages_per_token", chain.messages}, {"relay_hidden_bytes_per_token", relay.hidden_bytes},
                     {"chain_f32_hidden_bytes_per_token", f32.hidden_bytes},
                     {"chain_f16_hidden_bytes_per_token", chain.hidden_bytes},
                     {"relay_result_bytes_per_token", relay_result_bytes},
                     {"chain_result_bytes_per_token", chain_result_bytes}, {"same_tokens", same},
                     {"f16_tokens_as_local", f16_as_local}});
}

// Prefill tok/s of a prompt of o.prompt_tokens over the given devices with f16 boundaries (the
// default), batch after batch and pipelined in micro-batches, median of o.repeats after a warm-up.
struct Prefill {
  double tokens_per_second = 0;
  std::vector<std::uint32_t> tokens;
  std::uint64_t micro_batches = 0, hops = 0;
};

Prefill prefill(model::Pipeline& pipeline, const Options& o) {
  const std::vector<std::uint32_t> prompt = bench_prompt(o, pipeline.config().vocab);
  model::GenerateOptions g;
  g.max_tokens = o.decode_tokens;
  std::vector<double> samples;
  Prefill out;
  for (int r = 0; r < o.repeats + 1; ++r) {
    const model::GenerateResult result = model::generate(pipeline, prompt, g);
    if (r > 0) samples.push_back(result.prefill_tokens_per_second());
    out.tokens = result.tokens;
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  out.tokens_per_second = samples[samples.size() / 2];
  return out;
}

Prefill prefill_over(const model::LlamaConfig& config, const model::GgufFile& file,
                     const std::vector<std::shared_ptr<Device>>& devices, const Options& o, bool pipelined) {
  model::Pipeline pipeline = build(config, file, devices, runtime::activation_mover(runtime::HiddenWire::f16));
  pipeline.set_decode_chain(runtime::node_chain_for(pipeline));
  std::shared_ptr<runtime::PrefillPipeline> runner;
  if (pipelined) runner = runtime::prefill_pipeline_for(pipeline, {.micro_batch = o.micro_batch});
  pipeline.set_prefill_runner(runner);
  Prefill out = prefill(pipeline, o);
  if (runner) {
    out.micro_batches = runner->counts().micro_batches;
    out.hops = runner->counts().hops;
  }
  return out;
}

void prefill_row(const model::LlamaConfig& config, const model::GgufFile& file,
                 const std::vector<std::shared_ptr<Device>>& devices, const Options& o, const Prefill& local, double rtt,
                 double link_rtt, apps::Table& table, nlohmann::json& results) {
  const Prefill before = prefill_over(config, file, devices, o, false);
  const Prefill after = prefill_over(config, file, devices, o, true);
  const bool same = before.tokens == after.tokens;
  table.add_row({fmt::format("{:g}", rtt), fmt::format("{:.3f}", link_rtt), std::to_string(devices.size()),
                 fmt::format("{:.1f}", before.tokens_per_second), fmt::format("{:.1f}", after.tokens_per_second),
                 fmt::format("{:.2f}", after.tokens_per_second / before.tokens_per_second),
                 fmt::format("{:.1f}", local.tokens_per_second), std::to_string(after.micro_batches),
                 std::to_string(after.hops), same ? "yes" : "NO"});
  results.push_back({{"added_rtt_ms", rtt}, {"link_rtt_ms", link_rtt}, {"stages", devices.size()},
                     {"prefill_tokens_per_second_batches", before.tokens_per_second},
                     {"prefill_tokens_per_second_pipelined", after.tokens_per_second},
                     {"local_prefill_tokens_per_second", local.tokens_per_second},
                     {"micro_batches", after.micro_batches}, {"node_to_node_hops", after.hops},
                     {"same_tokens", same}});
}

int run(const Options& o) {
  const auto dir = std::filesystem::temp_directory_path() / ("crossgpu-stage-bench-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  model::DemoModelSpec spec{.type = kernels::WeightType::q8_0, .layers = o.layers, .embedding = o.embedding,
                            .heads = o.heads, .kv_heads = o.kv_heads, .ffn = o.ffn, .context = std::max<std::uint32_t>(256, o.context), .seed = 7};
  const auto bytes = model::demo_model(spec).bytes();
  const auto file = model::GgufFile::parse(bytes);
  const auto config = model::LlamaConfig::from_gguf(file);
  Nodes nodes(dir, o.threads);
  bench_context = o.context;
  bench_max_batch = o.max_batch;

  fmt::print("model: {} layers x {}, FFN {}, q8_0 ({:.1f} MB); decode {} tokens after {} prompt tokens, median of {}\n",
             o.layers, o.embedding, o.ffn, static_cast<double>(bytes.size()) / 1e6, o.decode_tokens, o.prompt_tokens,
             o.repeats);
  model::Pipeline local = build(config, file, {make_cpu_device(o.threads)}, {});
  const Decode baseline = decode(local, o);
  fmt::print("local CPU device, one stage, no network: {:.3f} ms/token\n", baseline.ms_per_token);
  Prefill local_prefill;
  if (o.mover == "prefill") {
    local_prefill = prefill(local, o);
    fmt::print("local CPU device, one stage, no network: prefill {:.1f} tok/s ({} tokens, batches of {})\n",
               local_prefill.tokens_per_second, o.prompt_tokens, o.max_batch);
  }
  apps::Table prefill_table({{"added RTT ms"}, {"link RTT ms", apps::Align::right}, {"stages"},
                             {"prefill tok/s batch after batch", apps::Align::right},
                             {"prefill tok/s pipelined", apps::Align::right}, {"ratio", apps::Align::right},
                             {"local tok/s", apps::Align::right}, {"micro-batches", apps::Align::right},
                             {"node-to-node hops", apps::Align::right}, {"same tokens"}});

  apps::Table table({{"added RTT ms"}, {"link RTT ms", apps::Align::right}, {"stages"},
                     {"ms/token", apps::Align::right}, {"local ms/token", apps::Align::right},
                     {"overhead ms", apps::Align::right}, {"overhead in RTTs", apps::Align::right},
                     {"requests/node/token", apps::Align::right}, {"same tokens"}});
  apps::Table chain_table({{"added RTT ms"}, {"link RTT ms", apps::Align::right}, {"stages"},
                           {"relay ms/token", apps::Align::right}, {"chain f32 ms/token", apps::Align::right},
                           {"chain f16 ms/token", apps::Align::right}, {"local ms/token", apps::Align::right},
                           {"chain f16 overhead ms", apps::Align::right},
                           {"overhead in one-way delays", apps::Align::right}, {"relay msgs/token", apps::Align::right},
                           {"chain msgs/token", apps::Align::right}, {"hidden B/token f32 / f16", apps::Align::right},
                           {"token in+out B relay / chain", apps::Align::right},
                           {"same tokens (f32 = local, f16 chain = f16 relay)"}, {"f16 = local"}});
  nlohmann::json results = nlohmann::json::array();
  for (const double rtt : o.rtt_ms) {
    const auto one_way = std::chrono::microseconds(static_cast<std::int64_t>(rtt * 500.0));
    const double link_rtt = tcp_round_trip_ms(one_way);
    for (const std::size_t s : o.stages) {
      std::vector<LinkRelays> links;
      std::vector<std::unique_ptr<cluster::RemoteNode>> remote;
      std::vector<std::shared_ptr<Device>> devices;
      for (std::size_t i = 0; i < s; ++i) {
        const std::uint16_t grpc = static_cast<std::uint16_t>(nodes.server(i).port());
        links.push_back(relay_node(i, grpc, static_cast<std::uint16_t>(nodes.server(i).data_port()), one_way));
        cluster::ConnectionOptions connection;
        connection.batch_work = !o.per_op;
        remote.push_back(cluster::RemoteNode::connect(links.back().address, nodes.identity(), connection));
        devices.push_back(remote.back()->devices().front());
      }
      model::ActivationMover mover = [](BufferRef src, BufferRef dst, std::uint64_t n) {
        runtime::relay_through_client(src, dst, n);
      };
      if (o.mover == "peer") {
        mover = [](BufferRef src, BufferRef dst, std::uint64_t n) { cluster::copy_between_nodes(src, 0, dst, 0, n); };
      }
      if (o.mover == "prefill") {
        prefill_row(config, file, devices, o, local_prefill, rtt, link_rtt, prefill_table, results);
        continue;
      }
      if (o.mover == "chain") {
        chain_row(config, file, devices, o, baseline, rtt, link_rtt, chain_table, results);
        continue;
      }
      model::Pipeline pipeline = build(config, file, devices, mover, !o.per_op);
      std::vector<cluster::NodeCallCounts> before;
      for (std::size_t i = 0; i < s; ++i) before.push_back(nodes.server(i).call_counts());
      const Decode measured = decode(pipeline, o);
      std::uint64_t runs = 0;
      for (std::size_t i = 0; i < s; ++i) runs += nodes.server(i).call_counts().run - before[i].run;
      // Passes: prefill batches and decode steps of every repeat (the recording run included).
      const double passes = static_cast<double>((o.repeats + 1) * (o.decode_tokens + 1));
      const double requests = static_cast<double>(runs) / passes / static_cast<double>(s);
      const double overhead = measured.ms_per_token - baseline.ms_per_token;
      table.add_row({fmt::format("{:g}", rtt), fmt::format("{:.3f}", link_rtt), std::to_string(s),
                     fmt::format("{:.3f}", measured.ms_per_token), fmt::format("{:.3f}", baseline.ms_per_token),
                     fmt::format("{:.3f}", overhead), link_rtt > 0.05 ? fmt::format("{:.2f}", overhead / link_rtt) : "-",
                     fmt::format("{:.2f}", requests), measured.tokens == baseline.tokens ? "yes" : "NO"});
      results.push_back({{"added_rtt_ms", rtt}, {"link_rtt_ms", link_rtt}, {"stages", s},
                         {"ms_per_token", measured.ms_per_token}, {"local_ms_per_token", baseline.ms_per_token},
                         {"overhead_ms", overhead}, {"requests_per_node_per_token", requests},
                         {"same_tokens", measured.tokens == baseline.tokens}});
    }
  }
  if (o.per_op) fmt::print("baseline mode: every op its own request, decode op by op (as before batching)\n");
  fmt::print("hidden states between stages: {}\n",
             o.mover == "peer"    ? "node to node (PeerCopy)"
             : o.mover == "chain" ? "relay (through the client, f16 boundaries) and chain (node to node, f32 and f16 "
                                    "boundaries, the last node answering the greedy token), each stage's step one message"
                                  : "through the client, inside each stage's request");
  if (o.mover == "prefill") {
    fmt::print("prefill: {} prompt tokens, f16 boundaries; batch after batch (batches of {}, each relayed through the "
               "client) and pipelined (micro-batches of {}, node to node)\n",
               o.prompt_tokens, o.max_batch, o.micro_batch);
  }
  std::fputs((o.mover == "chain" ? chain_table : o.mover == "prefill" ? prefill_table : table).render().c_str(), stdout);
  std::ofstream(o.json_path) << nlohmann::json{{"mover", o.mover}, {"per_op", o.per_op}, {"layers", o.layers}, {"embedding", o.embedding},
                                               {"results", results}}
                                    .dump(2)
                             << "\n";
  fmt::print("wrote {}\n", o.json_path);
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace crossgpu::bench

int main(int argc, char** argv) {
  crossgpu::bench::Options o;
  CLI::App app{"crossgpu-stage-bench: decode ms/token of a model split over remote stages behind delayed links"};
  app.add_option("--rtt-ms", o.rtt_ms, "added round trips to measure, ms")->capture_default_str();
  app.add_option("--stages", o.stages, "remote stage counts (1..3)")->capture_default_str();
  app.add_option("--mover", o.mover, "hidden states between stages: client (in the stages' requests), peer, or chain (node to node; the "
                 "client relay measured beside it)")
      ->check(CLI::IsMember({"client", "peer", "chain", "prefill"}))
      ->capture_default_str();
  app.add_flag("--per-op", o.per_op, "baseline: one request per op and decode op by op (no batching, no recording)");
  app.add_option("--threads", o.threads,
                 "CPU device threads of the nodes and the baseline (0: every core; fewer leaves a core "
                 "to the relays and the network threads)")
      ->capture_default_str();
  app.add_option("--layers", o.layers)->capture_default_str();
  app.add_option("--embedding", o.embedding)->capture_default_str();
  app.add_option("--ffn", o.ffn)->capture_default_str();
  app.add_option("--heads", o.heads)->capture_default_str();
  app.add_option("--kv-heads", o.kv_heads)->capture_default_str();
  app.add_option("--prompt-tokens", o.prompt_tokens)->capture_default_str();
  app.add_option("--context", o.context, "KV positions per stage")->capture_default_str();
  app.add_option("--max-batch", o.max_batch, "tokens per forward pass (prefill batches)")->capture_default_str();
  app.add_option("--micro-batch", o.micro_batch, "--mover prefill: tokens per pipelined micro-batch")
      ->capture_default_str();
  app.add_option("--decode-tokens", o.decode_tokens)->capture_default_str();
  app.add_option("--repeats", o.repeats)->capture_default_str();
  app.add_option("--json", o.json_path)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return crossgpu::bench::run(o);
  } catch (const crossgpu::Error& e) {
    std::fprintf(stderr, "crossgpu-stage-bench: %s\n", e.what());
    return 1;
  }
}
