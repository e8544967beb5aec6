// Protocol constants: the header frame, the one-byte command codes and the decode limits.
// Codes are unique across all four directions, so a frame names its message type alone.
// Constants and pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rs::schemas {

// Header frame: 3 bytes of magic "RSP" followed by one version byte (4 bytes in all).
inline constexpr std::string_view kProtocolMagic = "RSP";
inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kHeaderBytes = 4;

enum class Command : uint8_t {
  // client -> broker
  kSubmit = 0x01,
  kCancel = 0x02,
  kSubscribe = 0x03,
  kStatus = 0x04,
  kWorkers = 0x05,
  kPing = 0x06,
  // broker -> client
  kAccepted = 0x11,
  kRejected = 0x12,
  kTokens = 0x13,
  kDone = 0x14,
  kStatusReply = 0x15,
  kWorkersReply = 0x16,
  kError = 0x17,
  kPong = 0x18,
  // worker -> broker
  kReady = 0x21,
  kWorkerHeartbeat = 0x22,
  kWorkerTokens = 0x23,
  kWorkerDone = 0x24,
  kWorkerFailed = 0x25,
  kWorkerDisconnect = 0x26,
  // broker -> worker
  kDispatch = 0x31,
  kCancelJob = 0x32,
  kBrokerHeartbeat = 0x33,
  kBrokerDisconnect = 0x34,
};

enum class Direction : uint8_t { kClientToBroker, kBrokerToClient, kWorkerToBroker, kBrokerToWorker };

// "SUBMIT", "WORKER_TOKENS", ...; "UNKNOWN" for an undefined byte.
std::string_view command_name(Command command);
// The command for a byte, or nullopt when the byte is not a defined command.
std::optional<Command> parse_command(uint8_t byte);
Direction command_direction(Command command);

// Hard limits applied while decoding. Defaults suit a broker facing untrusted clients.
struct Limits {
  size_t max_frame_bytes = 4u << 20;     // any single frame (the body, in practice)
  size_t max_prompt_bytes = 1u << 20;    // SubmitRequest.prompt -> prompt_too_long
  uint32_t max_tokens = 1u << 16;        // SubmitRequest.max_tokens upper bound
  size_t max_stop_strings = 16;          // SubmitRequest.stop entries
  size_t max_stop_bytes = 256;           // each stop string
  size_t max_name_bytes = 256;           // ids, model names, keys, worker names
  size_t max_text_bytes = 64u << 10;     // token text, error messages
  size_t max_entries = 1u << 16;         // entries in one TokenBatch / WorkersReply
  size_t max_devices = 256;              // devices in READY / HEARTBEAT
  size_t max_models = 64;                // models per device
  size_t max_api_meta_bytes = 2048;      // SubmitRequest.api_meta, JobRecord.api_meta
  size_t max_tenant_bytes = 64;          // SubmitRequest.tenant, JobRecord.tenant
  uint32_t max_top_logprobs = 20;        // alternatives per position (TokenEntry.top, ...)
  size_t max_prompt_tokens = 1u << 16;   // TokenEntry.prompt positions
  // Raw msgpack limits (msgpack::unpack_limit); the typed limits above are stricter.
  size_t max_map_entries = 64;
  size_t max_depth = 8;
};

}  // namespace rs::schemas
