// crossgpu_discovery_probe: a stand-in for `crossgpu node` in the multi-process discovery tests.
// Advertises one node, prints every peer event as one line on stdout, and exits 0 once every
// --expect node id was found (after --linger-ms, so the others can still find this one), or 3 when
// --timeout-ms passes first. Usage errors exit 2.
//
//   crossgpu_discovery_probe --id HEX --name NAME --port N [--expect HEX,HEX] [--interfaces a,b]
//                            [--host-name H] [--mode auto|embedded|daemon] [--timeout-ms T]
//                            [--linger-ms L]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "net/discovery/discovery.hpp"
#include "net/discovery/peer_event_queue.hpp"

namespace cd = crossgpu::discovery;
using std::chrono::milliseconds;

namespace {

struct Args {
  cd::DiscoveryOptions options;
  std::set<std::string> expect;
  milliseconds timeout{10'000};
  milliseconds linger{2'000};
};

std::set<std::string> split(const std::string& text) {
  std::set<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t comma = text.find(',', start);
    out.insert(text.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

cd::DiscoveryMode parse_mode(const std::string& text) {
  if (text == "embedded") return cd::DiscoveryMode::embedded;
  if (text == "daemon") return cd::DiscoveryMode::daemon;
  if (text == "auto") return cd::DiscoveryMode::automatic;
  crossgpu::fail(crossgpu::Errc::invalid_argument, "unknown --mode '{}'", text);
}

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--id")
      args.options.advertisement.node_id = value;
    else if (key == "--name")
      args.options.instance_name = value;
    else if (key == "--port")
      args.options.port = static_cast<std::uint16_t>(std::stoi(value));
    else if (key == "--expect")
      args.expect = split(value);
    else if (key == "--interfaces")
      args.options.interfaces.allow = cd::parse_interface_list(value);
    else if (key == "--host-name")
      args.options.host_name = value;
    else if (key == "--mode")
      args.options.mode = parse_mode(value);
    else if (key == "--timeout-ms")
      args.timeout = milliseconds(std::stoi(value));
    else if (key == "--linger-ms")
      args.linger = milliseconds(std::stoi(value));
    else
      crossgpu::fail(crossgpu::Errc::invalid_argument, "unknown option '{}'", key);
  }
  args.options.advertisement.devices = "probe cpu";
  return args;
}

void print(const cd::PeerEvent& event) {
  std::string addresses;
  for (const std::string& a : event.peer.addresses) addresses += " " + a;
  std::printf("%s %s %s %u%s\n", cd::event_kind_name(event.kind), event.peer.node_id.c_str(),
              event.peer.instance_name.c_str(), event.peer.port, addresses.c_str());
  std::fflush(stdout);
}

int run(const Args& args) {
  cd::PeerEventQueue queue;
  cd::Discovery discovery(args.options, [&](const cd::PeerEvent& e) { queue.push(e); });
  std::printf("mode %s interfaces %zu\n", cd::mode_name(discovery.mode()),
              discovery.interfaces().size());
  std::fflush(stdout);
  std::set<std::string> missing = args.expect;
  const auto deadline = std::chrono::steady_clock::now() + args.timeout;
  while (!missing.empty() && std::chrono::steady_clock::now() < deadline) {
    if (auto event = queue.pop(milliseconds(50))) {
      print(*event);
      if (event->kind != cd::PeerEventKind::lost) missing.erase(event->peer.node_id);
    }
  }
  if (!missing.empty()) return 3;
  std::this_thread::sleep_for(args.linger);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crossgpu_discovery_probe: %s\n", e.what());
    return 2;
  }
}
