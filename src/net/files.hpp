// Config-folder file handling shared by the security code: atomic writes with explicit
// permissions, bounded reads, an advisory lock for read-modify-write of shared files, and the
// machine binding of an identity.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace crossgpu::net {

inline constexpr unsigned private_mode = 0600;  // keys, invites, anything secret
inline constexpr unsigned public_mode = 0644;   // certificates

// Creates the folder (0700) when missing.
void ensure_config_dir(const std::filesystem::path& dir);

// Writes to a temporary file in the same folder, fsyncs it, and renames it over `path`, so a
// reader never sees half a file and a crash leaves the old one.
void write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode);

// Throws Errc::not_found when missing, Errc::io on read errors, Errc::invalid_argument when the
// file is larger than max_bytes (config files are small; a huge one is not ours).
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes = 1 << 20);

// /etc/machine-id, else the hostname: what an identity is bound to.
std::string machine_binding();

// Holds an exclusive flock on `<dir>/.lock` for its lifetime: serializes the CLI and the daemon
// when both update invites or revocations.
class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace crossgpu::net
