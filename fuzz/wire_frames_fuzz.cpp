// libFuzzer target: the frame level. The input is cut into 0..6 frames of any bytes (a
// hostile peer's whole multipart message after its routing frames); check_header,
// peek_command and parse_frames (any direction, then each direction) must answer with a
// value. A message that parses must re-encode to frames that parse to the same bytes.
#include <fuzzer/FuzzedDataProvider.h>

#include "wire_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rs::schemas;
  FuzzedDataProvider in(data, size);
  Frames frames(in.ConsumeIntegralInRange<size_t>(0, 6));
  for (size_t i = 0; i < frames.size(); ++i) {
    frames[i] = i + 1 == frames.size() ? in.ConsumeRemainingBytesAsString()
                                       : in.ConsumeRandomLengthString(64);
  }
  if (!frames.empty()) (void)check_header(frames[0]);
  (void)peek_command(frames);
  (void)parse_frames(frames);
  for (Direction d : {Direction::kClientToBroker, Direction::kBrokerToClient,
                      Direction::kWorkerToBroker, Direction::kBrokerToWorker}) {
    auto parsed = parse_frames(frames, d);
    if (parsed.ok()) rs::fuzz::check_round_trip(parsed.value(), d);
  }
  return 0;
}
