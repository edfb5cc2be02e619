// Constants of protocol v1 that both ends of a connection rely on (node.proto documents them).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace crossgpu::cluster {

inline constexpr std::uint32_t kProtocolMajor = 1;
inline constexpr std::uint32_t kProtocolMinor = 0;
inline constexpr const char* kSoftware = "crossgpu 0.1.0";

// Writes and reads travel in chunks of at most this much; a node refuses bigger chunks.
inline constexpr std::uint64_t kMaxChunkBytes = 4ull << 20;
// A whole gRPC message: one chunk plus its framing fields.
inline constexpr int kMaxMessageBytes = static_cast<int>(kMaxChunkBytes) + (64 << 10);
// Run and Record (node.proto, "Batched work"): what one request may carry.
inline constexpr int kMaxRunCommands = 4096;
inline constexpr std::uint64_t kMaxRunInlineBytes = 2ull << 20;  // written, and read, per Run
inline constexpr int kMaxProgramDispatches = 16384;
inline constexpr std::size_t kMaxPrograms = 256;  // per session
// The metadata key that carries the session id on every call after Hello.
inline constexpr const char* kSessionMetadata = "crossgpu-session";
inline constexpr std::uint16_t kDefaultPort = 7450;

// Heartbeats on the Session stream; a peer silent for kHeartbeatTimeout is lost.
inline constexpr std::chrono::milliseconds kHeartbeatInterval{500};
inline constexpr std::chrono::milliseconds kHeartbeatTimeout{3000};

}  // namespace crossgpu::cluster
