#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "net/crypto.hpp"
#include "net/files.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

// Where this identity lives: the machine and the folder's canonical path, recorded at creation.
json binding(const fs::path& dir) {
  return {{"machine", machine_binding()}, {"folder", fs::weakly_canonical(dir).string()}};
}

[[noreturn]] void refuse_copy(const fs::path& dir, std::string_view what) {
  fail(Errc::invalid_argument,
       "the node identity in {} was created {}: a copied config folder must not act as a second "
       "node with the same identity. Join this device again with a fresh invite "
       "(`crossgpu node --join TOKEN --config {}`), which replaces the copied identity",
       dir.string(), what, dir.string());
}

void check_binding(const fs::path& dir, const json& meta) {
  const json here = binding(dir);
  if (meta.value("machine", std::string()) != here["machine"].get<std::string>()) {
    refuse_copy(dir, "on another machine");
  }
  if (meta.value("folder", std::string()) != here["folder"].get<std::string>()) {
    refuse_copy(dir, fmt::format("in another folder ({})", meta.value("folder", std::string("?"))));
  }
}

json read_meta(const fs::path& dir) {
  json meta = json::parse(read_file(dir / "identity.json"), nullptr, false);
  if (!meta.is_object() || !meta["node_id"].is_string() || !meta["cluster_name"].is_string()) {
    fail(Errc::invalid_argument, "{} is corrupt: join again with a fresh invite",
         (dir / "identity.json").string());
  }
  return meta;
}

}  // namespace

bool NodeIdentity::exists(const fs::path& dir) {
  return fs::exists(dir / "identity.json") || fs::exists(dir / "node.key");
}

NodeIdentity NodeIdentity::store(const fs::path& dir, const std::string& key_pem,
                                 const std::string& cert_pem, const std::string& ca_pem,
                                 const std::string& cluster_name) {
  if (!crypto::key_matches_certificate(key_pem, cert_pem)) {
    fail(Errc::invalid_argument, "the issued certificate is not for this node's key");
  }
  if (!crypto::verify_certificate(ca_pem, cert_pem)) {
    fail(Errc::invalid_argument, "the issued certificate is not signed by the cluster CA");
  }
  const crypto::CertificateInfo info = crypto::inspect_node_certificate(cert_pem);
  ensure_config_dir(dir);
  write_file_atomic(dir / "node.key", key_pem, private_mode);
  write_file_atomic(dir / "node.crt", cert_pem, public_mode);
  write_file_atomic(dir / "ca.crt", ca_pem, public_mode);
  json meta = binding(dir);
  meta["node_id"] = info.node_id;
  meta["cluster_name"] = cluster_name;
  // Written last: an interrupted store leaves no identity.json, so it is not half-loaded.
  write_file_atomic(dir / "identity.json", meta.dump(2), public_mode);
  return load(dir);
}

NodeIdentity NodeIdentity::load(const fs::path& dir) {
  if (!exists(dir)) {
    fail(Errc::not_found,
         "{} holds no node identity: run `crossgpu cluster init` to create a cluster, or join "
         "one with `crossgpu node --join TOKEN`",
         dir.string());
  }
  const json meta = read_meta(dir);
  check_binding(dir, meta);
  NodeIdentity id;
  id.dir_ = dir;
  id.key_pem_ = read_file(dir / "node.key");
  id.cert_pem_ = read_file(dir / "node.crt");
  id.ca_pem_ = read_file(dir / "ca.crt");
  id.cluster_name_ = meta["cluster_name"].get<std::string>();
  const crypto::CertificateInfo info = crypto::inspect_node_certificate(id.cert_pem_);
  if (info.node_id != meta["node_id"].get<std::string>() ||
      !crypto::key_matches_certificate(id.key_pem_, id.cert_pem_) ||
      !crypto::verify_certificate(id.ca_pem_, id.cert_pem_)) {
    fail(Errc::invalid_argument,
         "the key, certificate and CA in {} do not belong together (or the certificate expired): "
         "join again with a fresh invite",
         dir.string());
  }
  id.node_id_ = info.node_id;
  id.role_ = info.role;
  id.serial_ = info.serial;
  return id;
}

}  // namespace crossgpu::net
