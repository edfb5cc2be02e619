// Internal to the net layer: the CA side of the signed revocation list (revocation_store.cpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace crossgpu::net {

// Signs a list holding the folder's current signed list plus `more`, with a higher version, and
// stores it. The folder must hold the CA key, and the caller must hold its FolderLock.
void sign_next_revocations(const std::filesystem::path& config_dir,
                           const std::vector<std::string>& more);

}  // namespace crossgpu::net
