#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "net/files.hpp"
#include "net/revocation_store.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr std::string_view file_name = "revoked.json";

std::vector<std::string> strings(const json& doc, const char* key) {
  std::vector<std::string> out;
  if (!doc.contains(key)) return out;
  for (const json& value : doc[key]) {
    if (value.is_string()) out.push_back(value.get<std::string>());
  }
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

RevocationList RevocationList::load(const fs::path& dir) {
  const fs::path path = dir / file_name;
  RevocationList list;
  if (!fs::exists(path)) return list;
  const json doc = json::parse(read_file(path), nullptr, false);
  // A damaged list must not silently readmit removed nodes.
  if (!doc.is_object()) {
    fail(Errc::invalid_argument, "{} is corrupt: restore it or remove the nodes again",
         path.string());
  }
  list.node_ids_ = strings(doc, "node_ids");
  list.serials_ = strings(doc, "cert_serials");
  return list;
}

bool RevocationList::is_revoked(std::string_view node_id, std::string_view cert_serial) const {
  return contains(node_ids_, node_id) || (!cert_serial.empty() && contains(serials_, cert_serial));
}

bool RevocationList::revoke(const fs::path& dir, const std::string& node_id,
                            const std::string& cert_serial) {
  ensure_config_dir(dir);
  FolderLock lock(dir);
  RevocationList list = load(dir);
  const bool fresh = !contains(list.node_ids_, node_id) &&
                     (cert_serial.empty() || !contains(list.serials_, cert_serial));
  if (fresh) {
    if (!node_id.empty() && !contains(list.node_ids_, node_id)) list.node_ids_.push_back(node_id);
    if (!cert_serial.empty()) list.serials_.push_back(cert_serial);
    const json doc{{"node_ids", list.node_ids_}, {"cert_serials", list.serials_}};
    write_file_atomic(dir / file_name, doc.dump(2), public_mode);
  }
  // The CA's removals spread to every node through the signed list. Every local removal goes in,
  // so removals made before signed lists existed spread too.
  const bool signs = ClusterCa::exists(dir);
  const bool unsigned_yet =
      signs && !node_id.empty() && !load_signed_revocations(dir).contains(node_id);
  if (unsigned_yet) sign_next_revocations(dir, list.node_ids_);
  return fresh || unsigned_yet;
}

}  // namespace crossgpu::net
