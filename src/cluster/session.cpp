#include "cluster/session.hpp"

#include <algorithm>

#include "cluster/protocol.hpp"
#include "cluster/stage_chain.hpp"
#include "cluster/wire_validation.hpp"
#include "core/error.hpp"
#include "net/crypto.hpp"

namespace crossgpu::cluster {

Session::~Session() {
  // Streams first: their pending work may still use the buffers, and each stream drains when
  // destroyed; the buffers are freed after (Device::free defers past pending work anyway).
  std::lock_guard work(work_mutex_);
  for (auto& [device, stream] : streams_) {
    try {
      stream->synchronize();
    } catch (const Error&) {
      // A lost device cannot run the work anyway; freeing below is still right.
    }
  }
  {
    std::lock_guard lock(mutex_);
    chains_.clear();    // they hold programs
    programs_.clear();  // a recording belongs to its stream: gone before the streams
  }
  streams_.clear();
  std::lock_guard lock(mutex_);
  buffers_.clear();
}

std::uint64_t Session::add_program(std::shared_ptr<const SessionProgram> program) {
  std::lock_guard lock(mutex_);
  if (programs_.size() >= kMaxPrograms) {
    fail(Errc::out_of_range, "the session holds {} programs already, the most a node keeps; release some",
         programs_.size());
  }
  const std::uint64_t id = next_program_++;
  programs_.emplace(id, std::move(program));
  return id;
}

std::shared_ptr<const SessionProgram> Session::program(std::uint64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = programs_.find(id);
  if (it == programs_.end()) fail(Errc::not_found, "program {} is not one of this session's", id);
  return it->second;
}

void Session::release_program(std::uint64_t id) {
  std::shared_ptr<const SessionProgram> released;  // destroyed outside the lock
  std::lock_guard lock(mutex_);
  auto it = programs_.find(id);
  if (it == programs_.end()) fail(Errc::not_found, "program {} is not one of this session's", id);
  released = std::move(it->second);
  programs_.erase(it);
}

std::uint64_t Session::add_chain(std::shared_ptr<StageChain> chain) {
  std::lock_guard lock(mutex_);
  if (chains_.size() >= kMaxChains) {
    fail(Errc::out_of_range, "the session holds {} chains already, the most a node keeps; release some",
         chains_.size());
  }
  const std::uint64_t id = next_chain_++;
  chains_.emplace(id, std::move(chain));
  return id;
}

std::shared_ptr<StageChain> Session::chain(std::uint64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = chains_.find(id);
  if (it == chains_.end()) fail(Errc::not_found, "chain {} is not one of this session's", id);
  return it->second;
}

void Session::release_chain(std::uint64_t id) {
  std::shared_ptr<StageChain> released;  // destroyed outside the lock
  std::lock_guard lock(mutex_);
  auto it = chains_.find(id);
  if (it == chains_.end()) fail(Errc::not_found, "chain {} is not one of this session's", id);
  released = std::move(it->second);
  chains_.erase(it);
}

std::size_t Session::program_count() const {
  std::lock_guard lock(mutex_);
  return programs_.size();
}

std::uint64_t Session::held_bytes() const { return held_->load(); }

std::size_t Session::buffer_count() const {
  std::lock_guard lock(mutex_);
  return buffers_.size();
}

bool Session::holds(std::uint64_t handle) const {
  std::lock_guard lock(mutex_);
  return buffers_.contains(handle);
}

void Session::allocate(std::uint64_t handle, const std::shared_ptr<Device>& device,
                       std::uint64_t bytes, MemoryKind kind) {
  {
    // Reserve first so that two concurrent allocations cannot both pass the quota check (the
    // counter only falls outside the lock, when a buffer is released).
    std::lock_guard lock(mutex_);
    const std::uint64_t held = held_->load();
    if (quota_bytes_ != 0 && (bytes > quota_bytes_ || held > quota_bytes_ - bytes)) {
      fail(Errc::out_of_memory,
           "allocation of {} refused: the session's quota is {} and it holds {} already; free "
           "buffers or ask the node's owner for a larger --quota",
           format_bytes(bytes), format_bytes(quota_bytes_), format_bytes(held));
    }
    held_->fetch_add(bytes);
  }
  std::shared_ptr<Buffer> buffer;
  try {
    buffer = std::shared_ptr<Buffer>(
        new Buffer(device->allocate(bytes, kind)),
        [held = held_, bytes](Buffer* released) {
          delete released;
          held->fetch_sub(bytes);
        });
  } catch (...) {
    held_->fetch_sub(bytes);
    throw;
  }
  std::lock_guard lock(mutex_);
  buffers_.emplace(handle, Entry{device, std::move(buffer)});
}

void Session::free(std::uint64_t handle) {
  std::shared_ptr<Buffer> doomed;  // released outside the lock (or later, by a transfer using it)
  std::lock_guard lock(mutex_);
  auto it = buffers_.find(handle);
  if (it == buffers_.end()) {
    fail(Errc::not_found, "free: this session holds no buffer with handle {}", handle);
  }
  doomed = std::move(it->second.buffer);
  buffers_.erase(it);
}

SessionBuffer Session::resolve(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                               const char* what) const {
  std::lock_guard lock(mutex_);
  auto it = buffers_.find(handle);
  if (it == buffers_.end()) {
    fail(Errc::not_found, "{}: this session holds no buffer with handle {}", what, handle);
  }
  check_range(offset, bytes, it->second.buffer->size(), what);
  return {it->second.device, it->second.buffer->ref(), it->second.buffer};
}

std::array<std::uint8_t, 32> Session::issue_data_secret(std::uint32_t lanes) {
  const std::vector<std::uint8_t> random = net::crypto::random_bytes(32);
  std::array<std::uint8_t, 32> secret{};
  std::copy(random.begin(), random.end(), secret.begin());
  std::lock_guard lock(mutex_);
  data_secret_ = secret;
  data_lanes_ = std::clamp<std::uint32_t>(lanes, 1, kMaxDataLanes);
  lanes_bound_.reset();
  return secret;
}

bool Session::redeem_data_secret(std::span<const std::uint8_t> secret, std::uint64_t lane) {
  std::lock_guard lock(mutex_);
  if (!data_secret_) return false;
  if (!net::crypto::equal_constant_time(*data_secret_, secret)) return false;
  // One connection per lane: a replayed bind finds its lane taken.
  if (lane >= data_lanes_ || lanes_bound_.test(lane)) return false;
  lanes_bound_.set(lane);
  return true;
}

Stream& Session::stream(Device& device) {
  auto it = streams_.find(&device);
  if (it == streams_.end()) it = streams_.emplace(&device, device.create_stream()).first;
  return *it->second;
}

void Session::synchronize_all() {
  for (auto& [device, stream] : streams_) stream->synchronize();
}

}  // namespace crossgpu::cluster
