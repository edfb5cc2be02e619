// Throwaway clusters for the cluster tests: a CA and node identities in temporary config folders
// (through the security API, as `crossgpu cluster init` and `--join` make them), node servers on
// loopback ports, and clients joined with invites of a chosen role.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cluster/node_server.hpp"
#include "net/security.hpp"

namespace crossgpu::testing {

// A temporary folder removed with its contents at destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// A cluster: the CA node's folder plus a way to make more identities.
class TestCluster {
 public:
  explicit TestCluster(const std::string& name = "test-cluster");

  const std::filesystem::path& ca_dir() const noexcept { return ca_dir_.path(); }
  // A server on the CA node (which also serves enrollment) on 127.0.0.1, a free port.
  std::unique_ptr<cluster::NodeServer> start_ca_node(cluster::SessionLimits limits = {});
  // A new identity of `role`, joined through the running CA node at `enroll_address`, in a
  // new temporary folder kept alive by this cluster.
  net::NodeIdentity join(net::Role role, const std::string& enroll_address);
  // Starts a node server with the identity in `dir` (without its data channel when told).
  static std::unique_ptr<cluster::NodeServer> start_node(const std::filesystem::path& dir,
                                                         cluster::SessionLimits limits = {},
                                                         bool data_channel = true);

 private:
  TempDir ca_dir_;
  std::vector<std::unique_ptr<TempDir>> joined_;
};

std::string loopback(int port);
// The member directory of nodes started by TestCluster: the address of every node of the cluster
// with CA certificate `ca_pem` that this process started through it (by node id), empty for
// others.
std::string fixture_member_address(const std::string& ca_pem, const std::string& node_id);

}  // namespace crossgpu::testing
