// Network namespaces on one switch, for tests of a cluster over real links: a hub namespace with
// a bridge, and `members` namespaces each joined to it by a veth pair (eth0 inside, 10.213.16.<i+1>
// /24). A member's link is cut and restored at the hub's end of its pair, as a cable pulled out
// of a switch: the member's process runs on and sees no reset, only silence. Every namespace
// (and with it every veth pair) is removed at destruction, and leftovers of a crashed run of the
// same process id at construction.
#pragma once

#include <unistd.h>

#include <string>

#include "support/cli_runner.hpp"

namespace crossgpu::testing {

class NetnsHub {
 public:
  explicit NetnsHub(int members) : base_("cgrec" + std::to_string(::getpid())), members_(members) { remove(); }
  ~NetnsHub() { remove(); }
  NetnsHub(const NetnsHub&) = delete;
  NetnsHub& operator=(const NetnsHub&) = delete;

  std::string member(int i) const { return base_ + "m" + std::to_string(i); }
  std::string address(int i) const { return "10.213.16." + std::to_string(i + 1); }
  // The words that run a command in member i.
  std::string exec_prefix(int i) const { return "ip netns exec " + member(i) + " "; }

  // Empty on success, else the failing command and what it printed.
  std::string create() const {
    std::string error = step("netns add " + hub());
    for (const std::string& s : {"-n " + hub() + " link add br0 type bridge mcast_snooping 0",
                                 "-n " + hub() + " link set br0 up", "-n " + hub() + " link set lo up"}) {
      if (error.empty()) error = step(s);
    }
    for (int i = 0; i < members_ && error.empty(); ++i) error = join(i);
    return error;
  }

  // Cuts (or restores) member i's link: `ip link set <its hub end> down` (up).
  std::string set_link(int i, bool up) const {
    return step("-n " + hub() + " link set " + hub_end(i) + (up ? " up" : " down"));
  }

 private:
  std::string hub() const { return base_ + "hub"; }
  // veth names live in the host's namespace until moved: unique per process, at most 15 bytes.
  std::string hub_end(int i) const { return "cgr" + std::to_string(::getpid() % 100000) + "h" + std::to_string(i); }
  std::string member_end(int i) const { return "cgr" + std::to_string(::getpid() % 100000) + "m" + std::to_string(i); }

  std::string join(int i) const {
    const std::string m = member(i);
    for (const std::string& s :
         {"netns add " + m, "link add " + member_end(i) + " type veth peer name " + hub_end(i),
          "link set " + hub_end(i) + " netns " + hub(), "link set " + member_end(i) + " netns " + m + " name eth0",
          "-n " + hub() + " link set " + hub_end(i) + " master br0", "-n " + hub() + " link set " + hub_end(i) + " up",
          "-n " + m + " addr add " + address(i) + "/24 dev eth0", "-n " + m + " link set eth0 up",
          "-n " + m + " link set lo up"}) {
      if (std::string error = step(s); !error.empty()) return error;
    }
    return {};
  }
  static std::string step(const std::string& args) {
    const CliOutcome r = run_cli("ip", args);
    return r.exit_code == 0 ? std::string() : "ip " + args + ": " + r.out + r.err;
  }
  void remove() const {
    for (int i = 0; i < members_; ++i) {
      run_cli("ip", "netns del " + member(i));
      run_cli("ip", "link del " + member_end(i));  // a pair a failed create() left in this namespace
    }
    run_cli("ip", "netns del " + hub());
  }

  std::string base_;
  int members_;
};

}  // namespace crossgpu::testing
