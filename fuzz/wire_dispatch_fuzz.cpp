// libFuzzer target: what the broker sends a worker (DISPATCH, CANCEL_JOB, BROKER_HEARTBEAT,
// BROKER_DISCONNECT) decoded as the worker's Connection does, then re-encoded.
#include "wire_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rs::schemas::Command;
  static const std::vector<Command> kCommands = {Command::kDispatch, Command::kCancelJob,
                                                 Command::kBrokerHeartbeat,
                                                 Command::kBrokerDisconnect};
  rs::fuzz::fuzz_direction(data, size, rs::schemas::Direction::kBrokerToWorker, kCommands);
  return 0;
}
