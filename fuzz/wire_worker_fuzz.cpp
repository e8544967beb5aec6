// libFuzzer target: what a worker sends the broker (READY, WORKER_HEARTBEAT, WORKER_TOKENS,
// WORKER_DONE, WORKER_FAILED, WORKER_DISCONNECT) decoded as BrokerState::on_worker_frames
// does, then re-encoded.
#include "wire_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rs::schemas::Command;
  static const std::vector<Command> kCommands = {
      Command::kReady,      Command::kWorkerHeartbeat, Command::kWorkerTokens,
      Command::kWorkerDone, Command::kWorkerFailed,    Command::kWorkerDisconnect};
  rs::fuzz::fuzz_direction(data, size, rs::schemas::Direction::kWorkerToBroker, kCommands);
  return 0;
}
