// Discovery across network namespaces: two namespaces joined by a veth pair, a probe process in
// each (`ip netns exec`), each must find the other over real mDNS on the veth link. The
// namespaces are created and removed here, named after this process id, and removed by a guard
// even when an assertion fails. Skipped, with the kernel's reason, where namespaces are refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include "core/error.hpp"

namespace {

using std::chrono::milliseconds;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct Result {
  int status = -1;
  std::string output;
};

Result run(const std::string& command) {
  Result result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) result.output += line;
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Two namespaces "<base>a"/"<base>b" with a veth pair between them. Deleting a namespace
// deletes its end of the veth, and with it the pair.
class NamespacePair {
 public:
  NamespacePair(std::string veth_a, std::string veth_b)
      : base_(fmt::format("cgdisc{}", getpid())),
        veth_a_(std::move(veth_a)),
        veth_b_(std::move(veth_b)) {
    remove();  // leftovers of a crashed run with the same pid
  }
  ~NamespacePair() { remove(); }
  NamespacePair(const NamespacePair&) = delete;
  NamespacePair& operator=(const NamespacePair&) = delete;

  std::string a() const { return base_ + "a"; }
  std::string b() const { return base_ + "b"; }

  // Empty on success, else the failing command and its output.
  std::string create() {
    const std::string tmp_a = fmt::format("cgv{}a", getpid() % 100000),
                      tmp_b = fmt::format("cgv{}b", getpid() % 100000);
    const std::vector<std::string> steps = {
        fmt::format("ip netns add {}", a()),
        fmt::format("ip netns add {}", b()),
        fmt::format("ip link add {} type veth peer name {}", tmp_a, tmp_b),
        fmt::format("ip link set {} netns {} name {}", tmp_a, a(), veth_a_),
        fmt::format("ip link set {} netns {} name {}", tmp_b, b(), veth_b_),
        fmt::format("ip -n {} addr add 10.213.7.1/24 dev {}", a(), veth_a_),
        fmt::format("ip -n {} addr add 10.213.7.2/24 dev {}", b(), veth_b_),
        fmt::format("ip -n {} link set {} up", a(), veth_a_),
        fmt::format("ip -n {} link set {} up", b(), veth_b_),
        fmt::format("ip -n {} link set lo up", a()),
        fmt::format("ip -n {} link set lo up", b())};
    for (const std::string& step : steps) {
      const Result r = run(step);
      if (r.status != 0) return step + ": " + r.output;
    }
    return {};
  }

 private:
  void remove() {
    run(fmt::format("ip netns del {}", a()));
    run(fmt::format("ip netns del {}", b()));
  }

  std::string base_;
  std::string veth_a_, veth_b_;
};

std::string node_id(char digit) { return std::string(32, digit); }

std::string probe(const std::string& ns, char self, char other, const std::string& extra,
                  int timeout_ms, const char* mode = "embedded") {
  return fmt::format(
      "timeout 30 ip netns exec {} {} --id {} --name node-{} --port 7300 --expect {} --mode {} "
      "--host-name cg-{} --timeout-ms {} --linger-ms 2000 {}",
      ns, CROSSGPU_DISCOVERY_PROBE, node_id(self), self, node_id(other), mode, ns, timeout_ms,
      extra);
}

// Runs both probes at once; each result is (exit status, output).
std::pair<Result, Result> run_pair(const std::string& a, const std::string& b) {
  auto first = std::async(std::launch::async, run, a);
  auto second = std::async(std::launch::async, run, b);
  return {first.get(), second.get()};
}

// Namespaces left by an earlier run that was killed before its destructors ran: their names
// carry the pid of a process that no longer exists.
void remove_stale_namespaces() {
  const std::regex ours("^cgdisc([0-9]+)[ab]\\b.*");
  std::istringstream list(run("ip netns list").output);
  for (std::string line; std::getline(list, line);) {
    std::smatch match;
    if (!std::regex_match(line, match, ours)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(match[1]));
    if (pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH) {
      run("ip netns del " + line.substr(0, line.find(' ')));
    }
  }
}

class DiscoveryNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "network namespaces need root (CAP_SYS_ADMIN); not running as root";
    if (run("ip -V").status != 0) GTEST_SKIP() << "iproute2 ('ip') is not installed";
    remove_stale_namespaces();
  }

  // Creates the namespaces; false (with the test skipped or failed) when they could not be made.
  bool create_or_skip(NamespacePair& pair) {
    const std::string error = pair.create();
    if (error.find("ip netns add") == 0) {
      // GTEST_SKIP returns from the function it is in: a lambda, so that this one can return false.
      [&] { GTEST_SKIP() << "the kernel refused a network namespace: " << error; }();
      return false;
    }
    EXPECT_TRUE(error.empty()) << error;
    return error.empty();
  }
};

TEST_F(DiscoveryNetns, NodesInSeparateNamespacesFindEachOtherOverVeth) {
  NamespacePair pair("uplink0", "uplink0");
  if (!create_or_skip(pair)) return;
  // Default interface policy: the veth end (named like a NIC) is chosen, loopback is not.
  const auto [a, b] =
      run_pair(probe(pair.a(), '1', '2', "", 12'000), probe(pair.b(), '2', '1', "", 12'000));
  EXPECT_EQ(a.status, 0) << "namespace a did not find b:\n" << a.output;
  EXPECT_EQ(b.status, 0) << "namespace b did not find a:\n" << b.output;
  EXPECT_NE(a.output.find("found " + node_id('2') + " node-2 7300"), std::string::npos) << a.output;
  EXPECT_NE(a.output.find("10.213.7.2"), std::string::npos) << "b's IPv4 address is missing:\n"
                                                            << a.output;
  EXPECT_NE(b.output.find("10.213.7.1"), std::string::npos) << "a's IPv4 address is missing:\n"
                                                            << b.output;
}

TEST_F(DiscoveryNetns, ContainerBridgesAreSkippedUnlessNamed) {
  // Both ends are called docker0: the default policy must stay off them, an allow list uses them.
  NamespacePair pair("docker0", "docker0");
  if (!create_or_skip(pair)) return;
  const auto [a, b] =
      run_pair(probe(pair.a(), '3', '4', "", 3'000), probe(pair.b(), '4', '3', "", 3'000));
  EXPECT_EQ(a.status, 3) << "discovery ran on docker0 by default:\n" << a.output;
  EXPECT_EQ(b.status, 3) << "discovery ran on docker0 by default:\n" << b.output;
  EXPECT_NE(a.output.find("interfaces 0"), std::string::npos) << a.output;

  const auto [c, d] = run_pair(probe(pair.a(), '3', '4', "--interfaces docker0", 12'000),
                               probe(pair.b(), '4', '3', "--interfaces docker0", 12'000));
  EXPECT_EQ(c.status, 0) << "an explicit allow list did not use docker0:\n" << c.output;
  EXPECT_EQ(d.status, 0) << "an explicit allow list did not use docker0:\n" << d.output;
}

// A background process (posix_spawnp, output discarded) that is terminated and reaped when the
// owner goes.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Background() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// A scratch directory removed with its owner, failing test or not.
struct ScratchDir {
  explicit ScratchDir(std::filesystem::path p) : path(std::move(p)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    std::filesystem::permissions(path, std::filesystem::perms::all);  // dbus-daemon drops root
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::filesystem::path path;
};

bool have(const char* tool) { return run(fmt::format("command -v {}", tool)).status == 0; }

// Interoperability with the reference DNS-SD stack: a real avahi-daemon (on a private D-Bus, in
// namespace a) must see the embedded responder's advertisement from namespace b through
// `avahi-browse -r`, with its TXT record, as Android NSD and Bonjour would; and a node in
// namespace a in automatic mode must use that daemon and find namespace b's node.
TEST_F(DiscoveryNetns, AvahiDaemonAndAvahiBrowseSeeTheEmbeddedResponder) {
  if (!have("avahi-daemon") || !have("avahi-browse") || !have("dbus-daemon")) {
    GTEST_SKIP() << "avahi-daemon, avahi-utils and dbus are needed for the interoperability check";
  }
  NamespacePair pair("uplink0", "uplink0");
  if (!create_or_skip(pair)) return;
  const ScratchDir scratch(fmt::format("/tmp/cgdisc-{}", getpid()));
  const std::filesystem::path& dir = scratch.path;
  const std::string bus = "unix:path=" + (dir / "bus").string();
  std::ofstream(dir / "avahi.conf")
      << "[server]\nallow-interfaces=uplink0\n[wide-area]\nenable-wide-area=no\n"
         "[publish]\npublish-hinfo=no\npublish-workstation=no\n";
  Background dbus({"dbus-daemon", "--config-file=/usr/share/dbus-1/system.conf", "--address=" + bus,
                   "--nopidfile", "--nofork"});
  ASSERT_TRUE(dbus.started());
  std::this_thread::sleep_for(milliseconds(300));
  Background daemon({"ip", "netns", "exec", pair.a(), "env", "DBUS_SYSTEM_BUS_ADDRESS=" + bus,
                     "avahi-daemon", "-f", (dir / "avahi.conf").string(), "--no-chroot",
                     "--no-drop-root", "--no-rlimits"});
  ASSERT_TRUE(daemon.started());
  auto b = std::async(std::launch::async, run, probe(pair.b(), '6', '5', "", 15'000));

  std::string browse;
  for (int attempt = 0; attempt < 20 && browse.find("id=" + node_id('6')) == std::string::npos;
       ++attempt) {
    std::this_thread::sleep_for(milliseconds(500));
    browse = run(fmt::format("ip netns exec {} env DBUS_SYSTEM_BUS_ADDRESS={} timeout 5 "
                             "avahi-browse -rpt _crossgpu._tcp",
                             pair.a(), bus))
                 .output;
  }
  EXPECT_NE(browse.find("id=" + node_id('6')), std::string::npos)
      << "avahi-browse did not see the node:\n"
      << browse;
  EXPECT_NE(browse.find("\"proto=1.0\""), std::string::npos) << browse;
  EXPECT_NE(browse.find(";10.213.7.2;7300;"), std::string::npos) << "no A record / SRV port:\n"
                                                                 << browse;

  const Result a = run(fmt::format("DBUS_SYSTEM_BUS_ADDRESS={} {}", bus,
                                   probe(pair.a(), '5', '6', "", 10'000, "auto")));
  EXPECT_EQ(a.status, 0) << a.output;
  // Sanitizer builds cannot load libavahi-client (RTLD_DEEPBIND): they embed a responder instead.
  const char* expected_mode = kSanitized ? "mode embedded" : "mode avahi-daemon";
  EXPECT_NE(a.output.find(expected_mode), std::string::npos)
      << "automatic mode should report '" << expected_mode << "':\n"
      << a.output;
  const Result b_result = b.get();
  EXPECT_EQ(b_result.status, 0) << "the embedded node did not find the daemon's node:\n"
                                << b_result.output;
}

}  // namespace
