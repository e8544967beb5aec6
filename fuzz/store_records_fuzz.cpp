// libFuzzer target: the Redis record parsers of rs_store on what Redis could hand back.
// Input: [selector, rest]. Field records (rest split at NUL bytes into field, value, ...):
// job hashes, model registry entries, ingest stream entries, batch results; a model event
// line; or RESP bytes read by hiredis's reader (as RedisConnection does) into replies for
// the job load/create parsers and the token log's read/append parsers; or msgpack values
// kept in Redis. A record that parses must re-encode to fields that parse to the same.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rs/schemas/codec.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_reply.h"
#include "rs/store/token_log.h"

namespace {

using rs::store::RedisReply;
using Fields = std::vector<std::pair<std::string, std::string>>;

Fields split_fields(std::string_view rest) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= rest.size()) {
    const size_t nul = std::min(rest.find('\0', at), rest.size());
    parts.emplace_back(rest.substr(at, nul - at));
    at = nul + 1;
  }
  Fields fields;
  for (size_t i = 0; i + 1 < parts.size(); i += 2) fields.emplace_back(parts[i], parts[i + 1]);
  return fields;
}

// As RedisConnection's convert() (private to rs_store).
RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::kArray; break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  if (r->str != nullptr && r->len > 0) out.str.assign(r->str, static_cast<size_t>(r->len));
  out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  }
  return out;
}

// hiredis preallocates an array's elements from its header: a huge count is an allocation
// failure inside hiredis (a trusted server never sends one), not a test of our parsers.
bool small_arrays(std::string_view resp) {
  for (size_t i = 0; i < resp.size(); ++i) {
    if (resp[i] != '*') continue;
    size_t n = 0, j = i + 1;
    while (j < resp.size() && std::isdigit(static_cast<unsigned char>(resp[j])) && n < 100000) {
      n = n * 10 + static_cast<size_t>(resp[j++] - '0');
    }
    if (n > 4096) return false;
  }
  return true;
}

std::vector<RedisReply> read_resp(std::string_view resp) {
  std::vector<RedisReply> out;
  if (!small_arrays(resp)) return out;
  redisReader* reader = redisReaderCreate();
  if (redisReaderFeed(reader, resp.data(), resp.size()) == REDIS_OK) {
    void* raw = nullptr;
    while (out.size() < 64 && redisReaderGetReply(reader, &raw) == REDIS_OK && raw != nullptr) {
      out.push_back(convert(static_cast<redisReply*>(raw)));
      freeReplyObject(raw);
      raw = nullptr;
    }
  }
  redisReaderFree(reader);
  return out;
}

// parse(to_fields(x)) must succeed and give the same fields again.
template <class ToFields, class FromFields, class T>
void check_fields_round_trip(const T& value, ToFields to_fields, FromFields from_fields) {
  const auto fields = to_fields(value);
  auto again = from_fields(fields);
  if (!again.ok()) {
    std::fprintf(stderr, "round trip: re-encoded fields do not parse: %s\n",
                 again.status().to_string().c_str());
    std::abort();
  }
  const auto fields2 = to_fields(again.value());
  if (fields2 != fields) {
    for (size_t i = 0; i < std::max(fields.size(), fields2.size()); ++i) {
      auto show = [](const Fields& f, size_t j) {
        return j < f.size() ? f[j].first + "=" + f[j].second : std::string("(none)");
      };
      if (show(fields, i) != show(fields2, i)) {
        std::fprintf(stderr, "round trip: field %zu: %s -> %s\n", i, show(fields, i).c_str(),
                     show(fields2, i).c_str());
        break;
      }
    }
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rs::store;
  if (size == 0 || size > (64u << 10)) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 10) {
    case 0: {
      auto r = job_from_fields(split_fields(rest));
      if (r.ok()) check_fields_round_trip(r.value(), job_to_fields, job_from_fields);
      break;
    }
    case 1: {
      auto r = model_from_fields(split_fields(rest));
      if (r.ok()) check_fields_round_trip(r.value(), model_to_fields, model_from_fields);
      break;
    }
    case 2: {
      auto r = ingest_from_fields("1-0", split_fields(rest));
      if (r.ok()) {
        check_fields_round_trip(r.value(), ingest_to_fields,
                                [](const Fields& f) { return ingest_from_fields("1-0", f); });
      }
      break;
    }
    case 3: {
      auto r = result_from_fields("b", "1-0", split_fields(rest));
      if (r.ok()) {
        check_fields_round_trip(r.value(), result_to_fields,
                                [](const Fields& f) { return result_from_fields("b", "1-0", f); });
      }
      break;
    }
    case 4: (void)parse_model_event(rest); break;
    case 5: case 6: case 7: {
      const std::vector<RedisReply> replies = read_resp(rest);
      if (replies.empty()) break;
      if (data[0] % 10 == 5) (void)JobStore::parse_load_reply(replies[0], "j1");
      if (data[0] % 10 == 6) (void)JobStore::parse_create_reply(replies[0], "j1");
      if (data[0] % 10 == 7) {
        for (uint64_t from : {0, 1, 5}) (void)TokenLog::parse_read_reply(replies[0], "j1", from);
      }
      break;
    }
    case 8: {
      const std::vector<RedisReply> replies = read_resp(rest);
      std::vector<size_t> sizes(replies.size(), 2);
      (void)TokenLog::parse_append_replies(replies);
      (void)TokenLog::parse_append_replies(replies, sizes);
      break;
    }
    default: {  // msgpack values kept in Redis: a job's request, a log's logprob extras
      (void)rs::schemas::decode<rs::schemas::SubmitRequest>(rest);
      (void)rs::schemas::decode<rs::schemas::TokenExtrasList>(rest);
      (void)rs::schemas::decode<rs::schemas::JobRecord>(rest);
      (void)rs::schemas::decode<rs::schemas::TokenEntry>(rest);
    }
  }
  return 0;
}
