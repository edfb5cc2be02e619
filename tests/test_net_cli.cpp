// `crossgpu cluster ...` run as a process, as a user would: init, invite (one line on stdout),
// join through an in-process enrollment server, show, remove, and the copied-folder refusal.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "net/enrollment_service.hpp"
#include "net/security.hpp"
#include "net_test_support.hpp"
#include "support/cli_runner.hpp"

namespace crossgpu::net {
namespace {

using crossgpu::testing::LoopbackServer;
using crossgpu::testing::TempDir;

using Outcome = crossgpu::testing::CliOutcome;

// Runs the crossgpu binary with `args` (shell words), capturing stdout and stderr apart.
Outcome crossgpu(const std::string& args) { return crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, args); }

std::string config(const TempDir& dir, const std::string& sub = "node") {
  return " --config " + (dir / sub).string();
}

TEST(ClusterCli, InitRefusesToOverwriteWithoutForce) {
  TempDir dir;
  const Outcome init = crossgpu("cluster init --name lab" + config(dir));
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find("created cluster 'lab'"), std::string::npos) << init.out;
  const Outcome again = crossgpu("cluster init" + config(dir));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(crossgpu("cluster init --force --name lab2" + config(dir)).exit_code, 0);
  EXPECT_NE(crossgpu("cluster show" + config(dir)).out.find("lab2"), std::string::npos);
}

TEST(ClusterCli, InvitePrintsOneParsableLine) {
  TempDir dir;
  ASSERT_EQ(crossgpu("cluster init" + config(dir)).exit_code, 0);
  const Outcome invite = crossgpu(
      "cluster invite --role monitor --valid-for 2h --address 10.1.2.3:7450" + config(dir));
  ASSERT_EQ(invite.exit_code, 0) << invite.err;
  ASSERT_EQ(std::count(invite.out.begin(), invite.out.end(), '\n'), 1) << invite.out;
  const InviteToken token = InviteToken::parse(invite.out);
  EXPECT_EQ(token.role, Role::monitor);
  EXPECT_EQ(token.addresses, std::vector<std::string>{"10.1.2.3:7450"});

  const std::string file = (dir / "invite.txt").string();
  ASSERT_EQ(crossgpu("cluster invite --out " + file + config(dir)).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(crossgpu("cluster invite --role root" + config(dir)).exit_code, 2);
  EXPECT_EQ(crossgpu("cluster invite --valid-for soon" + config(dir)).exit_code, 2);
}

TEST(ClusterCli, JoinShowRemoveAndCopiedFolder) {
  TempDir dir;
  ASSERT_EQ(crossgpu("cluster init" + config(dir, "ca")).exit_code, 0);
  EnrollmentService enrollment(dir / "ca");
  LoopbackServer server(NodeIdentity::load(dir / "ca"), {&enrollment});
  const Outcome invite =
      crossgpu("cluster invite --address " + server.address() + config(dir, "ca"));
  ASSERT_EQ(invite.exit_code, 0) << invite.err;

  const Outcome join = crossgpu("cluster join " + invite.out.substr(0, invite.out.size() - 1) +
                                " --name laptop" + config(dir, "joiner"));
  ASSERT_EQ(join.exit_code, 0) << join.err;
  const NodeIdentity joined = NodeIdentity::load(dir / "joiner");
  EXPECT_NE(join.out.find(joined.node_id()), std::string::npos);
  const Outcome show = crossgpu("cluster show" + config(dir, "joiner"));
  EXPECT_NE(show.out.find("compute"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("holds CA key:   no"), std::string::npos) << show.out;

  std::filesystem::copy(dir / "joiner", dir / "copy");
  const Outcome copied = crossgpu("cluster show" + config(dir, "copy"));
  EXPECT_EQ(copied.exit_code, 2);
  EXPECT_NE(copied.err.find("fresh invite"), std::string::npos) << copied.err;

  EXPECT_EQ(crossgpu("cluster remove " + joined.node_id() + config(dir, "joiner")).exit_code, 2)
      << "a compute node may not remove nodes";
  const Outcome remove = crossgpu("cluster remove " + joined.node_id() + config(dir, "ca"));
  ASSERT_EQ(remove.exit_code, 0) << remove.err;
  EXPECT_TRUE(RevocationList::load(dir / "ca").is_revoked(joined.node_id(), ""));
}

}  // namespace
}  // namespace crossgpu::net
