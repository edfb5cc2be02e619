#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "net/files.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
namespace {

std::string errno_text() { return std::strerror(errno); }

// Writes all of `data` to fd, retrying short writes and EINTR.
void write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(Errc::io, "cannot write {}: {}", path.string(), errno_text());
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string temp_name(const fs::path& path) {
  std::random_device random;
  return path.string() + fmt::format(".tmp{:08x}", random());
}

}  // namespace

fs::path default_config_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) {
    return fs::path(xdg) / "crossgpu";
  }
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    fail(Errc::not_found, "neither XDG_CONFIG_HOME nor HOME is set: pass --config DIR");
  }
  return fs::path(home) / ".config" / "crossgpu";
}

fs::path resolve_config_dir(const std::string& flag) {
  return flag.empty() ? default_config_dir() : fs::path(flag);
}

std::string local_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "unknown-host";
  return name;
}

void ensure_config_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(Errc::io, "cannot create config folder {}: {}", dir.string(), ec.message());
  // Private keys live here: keep the folder itself private too.
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
}

void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode) {
  const std::string temp = temp_name(path);
  // O_EXCL with the final mode from the start: the secret is never readable by others, not
  // even between create and chmod.
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail(Errc::io, "cannot create {}: {}", temp, errno_text());
  try {
    write_all(fd, data, temp);
    if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
      fail(Errc::io, "cannot finish writing {}: {}", temp, errno_text());
    }
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(temp.c_str());
    fail(Errc::io, "cannot replace {}: {}", path.string(), reason);
  }
}

std::string read_file(const fs::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) fail(Errc::not_found, "{} does not exist", path.string());
    fail(Errc::io, "cannot read {}: {}", path.string(), errno_text());
  }
  std::string data(max_bytes + 1, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (in.bad()) fail(Errc::io, "cannot read {}", path.string());
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > max_bytes) {
    fail(Errc::invalid_argument, "{} is larger than {} bytes: not a crossgpu file", path.string(),
         max_bytes);
  }
  return data;
}

std::string machine_binding() {
  for (const char* file : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    std::ifstream in(file);
    std::string id;
    if (in >> id && !id.empty()) return "machine-id:" + id;
  }
  return "hostname:" + local_hostname();
}

FolderLock::FolderLock(const fs::path& dir) {
  const fs::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) fail(Errc::io, "cannot open {}: {}", path.string(), errno_text());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      const std::string reason = errno_text();
      ::close(fd_);
      fail(Errc::io, "cannot lock {}: {}", path.string(), reason);
    }
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace crossgpu::net
