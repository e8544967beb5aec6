// libFuzzer target: what a client sends the broker (SUBMIT, CANCEL, SUBSCRIBE, STATUS,
// WORKERS, PING) decoded as BrokerState::on_client_frames does, then re-encoded.
#include "wire_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rs::schemas::Command;
  static const std::vector<Command> kCommands = {Command::kSubmit, Command::kCancel,
                                                 Command::kSubscribe, Command::kStatus,
                                                 Command::kWorkers, Command::kPing};
  rs::fuzz::fuzz_direction(data, size, rs::schemas::Direction::kClientToBroker, kCommands);
  return 0;
}
