// libFuzzer target: the frame level. The input is cut into 0..6 frames of any bytes (a
// hostile peer's whole multipart message after its routing frames); check_header,
// peek_command and parse_frames (any direction, then each direction) must answer with a
// value. A message that parses must re-encode to frames that parse to the same bytes. A
// single frame is also tried as the packed form (unpack_frames), which must split only what
// pack_frames would have made.
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
  if (frames.size() == 1) {
    const std::string one = frames[0];
    if (unpack_frames(frames)) {
      if (frames.size() != 3 || pack_frames(frames) != one || frames[1].size() != 1) __builtin_trap();
    } else if (frames.size() != 1 || frames[0] != one) {
      __builtin_trap();
    }
  }
  for (Direction d : {Direction::kClientToBroker, Direction::kBrokerToClient,
                      Direction::kWorkerToBroker, Direction::kBrokerToWorker}) {
    auto parsed = parse_frames(frames, d);
    if (parsed.ok()) rs::fuzz::check_round_trip(parsed.value(), d);
  }
  return 0;
}
