#include "rs/schemas/protocol.h"

namespace rs::schemas {

std::string_view command_name(Command command) {
  switch (command) {
    case Command::kSubmit: return "SUBMIT";
    case Command::kCancel: return "CANCEL";
    case Command::kSubscribe: return "SUBSCRIBE";
    case Command::kStatus: return "STATUS";
    case Command::kWorkers: return "WORKERS";
    case Command::kPing: return "PING";
    case Command::kAccepted: return "ACCEPTED";
    case Command::kRejected: return "REJECTED";
    case Command::kTokens: return "TOKENS";
    case Command::kDone: return "DONE";
    case Command::kStatusReply: return "STATUS_REPLY";
    case Command::kWorkersReply: return "WORKERS_REPLY";
    case Command::kError: return "ERROR";
    case Command::kPong: return "PONG";
    case Command::kReady: return "READY";
    case Command::kWorkerHeartbeat: return "WORKER_HEARTBEAT";
    case Command::kWorkerTokens: return "WORKER_TOKENS";
    case Command::kWorkerDone: return "WORKER_DONE";
    case Command::kWorkerFailed: return "WORKER_FAILED";
    case Command::kWorkerDisconnect: return "WORKER_DISCONNECT";
    case Command::kDispatch: return "DISPATCH";
    case Command::kCancelJob: return "CANCEL_JOB";
    case Command::kBrokerHeartbeat: return "BROKER_HEARTBEAT";
    case Command::kBrokerDisconnect: return "BROKER_DISCONNECT";
  }
  return "UNKNOWN";
}

std::optional<Command> parse_command(uint8_t byte) {
  auto c = static_cast<Command>(byte);
  if (command_name(c) == "UNKNOWN") return std::nullopt;
  return c;
}

Direction command_direction(Command command) {
  auto b = static_cast<uint8_t>(command);
  if (b < 0x10) return Direction::kClientToBroker;
  if (b < 0x20) return Direction::kBrokerToClient;
  if (b < 0x30) return Direction::kWorkerToBroker;
  return Direction::kBrokerToWorker;
}

}  // namespace rs::schemas
