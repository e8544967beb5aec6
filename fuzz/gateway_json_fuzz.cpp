// libFuzzer target: the gateway's JSON readers straight from bytes (faster than through
// HTTP): [selector byte, JSON...] -> the completion request parser, the chat request parser
// (both planned into SUBMITs), the body checks (json_depth, json_widest_object,
// parse_body_object), or decode_api_meta (a job record's api_meta, read back from Redis).
#include "completion_format.h"
#include "gateway_fuzz.h"
#include "request_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 20)) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: rs::fuzz::fuzz_completion_body(body); break;
    case 1: rs::fuzz::fuzz_chat_body(body); break;
    case 2: {
      (void)rs::gateway::json_depth(body);
      (void)rs::gateway::json_widest_object(body);
      rs::gateway::Json out;
      (void)rs::gateway::parse_body_object(body, rs::gateway::RequestLimits{}, out);
      break;
    }
    default: (void)rs::gateway::decode_api_meta(body);
  }
  return 0;
}
