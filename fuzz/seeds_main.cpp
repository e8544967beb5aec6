// fuzz-seeds OUT_DIR: writes the seed corpora (OUT_DIR/<target>/<name>) of the fuzz targets
// from real messages encoded by our own encoders: wire bodies, Redis records and replies
// (RESP, as redis-server would send them), and small GGUF files made with GgufWriter. The
// HTTP, JSON and template seeds are plain files kept in fuzz/corpus/ by hand.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"
#include "rs/engine/tokenizer.h"
#include "rs/schemas/codec.h"
#include "rs/schemas/frames.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"
#include "rs/store/token_log.h"

namespace {

namespace fs = std::filesystem;
using namespace rs::schemas;
std::string g_out;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out + "/" + target);
  std::ofstream(g_out + "/" + target + "/" + name, std::ios::binary) << bytes;
}
template <class T>
void put_wire(const std::string& target, uint8_t selector, const std::string& name, const T& m) {
  put(target, name, std::string(1, static_cast<char>(selector)) + encode(m));
}

std::string resp_bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
std::string resp_array(const std::vector<std::string>& items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (const auto& i : items) out += i;
  return out;
}
std::string resp_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<std::string> items;
  for (const auto& [f, v] : fields) {
    items.push_back(resp_bulk(f));
    items.push_back(resp_bulk(v));
  }
  return resp_array(items);
}
std::string nul_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [f, v] : fields) out += f + '\0' + v + '\0';
  return out;
}

SubmitRequest sample_submit() {
  SubmitRequest s{.request_id = 7, .model = "stories", .prompt = "Once upon a time"};
  s.sampling.temperature = 0.7f;
  s.sampling.top_k = 40;
  s.sampling.seed = 42;
  s.stop = {"\n\n", "The end"};
  s.priority = Priority::kBatch;
  s.affinity_key = "user-1";
  s.idempotency_key = "idem-1";
  s.api_meta = R"({"kind":"text_completion","model":"stories","id":"cmpl-1"})";
  s.tenant = "acme";
  return s;
}
std::vector<TokenEntry> sample_tokens() {
  TokenEntry a{.job_id = "j1", .attempt = 1, .seq = 0, .token = 42, .text = "Once", .logprob = -0.5f};
  a.top = {TokenAlt{42, "Once", -0.5f}, TokenAlt{7, " upon", -1.5f}};
  a.prompt = {PromptToken{.token = 1, .text = "<s>"}, PromptToken{.token = 9, .text = "A", .logprob = -2.0f}};
  TokenEntry b{.job_id = "j1", .attempt = 1, .seq = 1, .token = 43, .text = " upon", .logprob = -0.1f};
  TokenEntry c{.job_id = "j1", .attempt = 1, .seq = 2, .token = 200, .text = "\xE2\x82", .logprob = -3.0f};
  return {a, b, c};
}
JobRecord sample_record() {
  JobRecord r{.job_id = "j1", .state = JobState::kSucceeded, .model = "stories", .model_version = 2,
              .worker = "w1", .device = 0, .attempt = 1};
  r.usage = Usage{.prompt_tokens = 5, .completion_tokens = 3, .queue_ms = 1.5, .ttft_ms = 12.25, .decode_tps = 88};
  r.created_ms = 1700000000000;
  r.finished_ms = 1700000000100;
  r.api_meta = R"({"kind":"chat.completion","model":"stories","id":"chatcmpl-1","index":0})";
  r.tenant = "acme";
  r.finish_reason = "stop";
  return r;
}

void wire_seeds() {
  const SubmitRequest s = sample_submit();
  put_wire("wire_client", 0, "submit", s);
  SubmitRequest chat = s;
  chat.prompt.clear();
  chat.chat_messages = R"([{"role":"user","content":"Hi"}])";
  chat.chat_tools = R"([{"type":"function","function":{"name":"f"}}])";
  chat.top_logprobs = 3;
  chat.prompt_logprobs = true;
  put_wire("wire_client", 0, "submit_chat", chat);
  SubmitRequest ids = s;
  ids.prompt.clear();
  ids.prompt_ids = {1, 2, 3, 400};
  put_wire("wire_client", 0, "submit_ids", ids);
  put_wire("wire_client", 1, "cancel", CancelRequest{.request_id = 3, .job_id = "j1"});
  put_wire("wire_client", 2, "subscribe", SubscribeRequest{.request_id = 4, .job_id = "j1", .from_seq = 10});
  put_wire("wire_client", 3, "status", StatusRequest{.request_id = 5, .job_id = "j1"});
  put_wire("wire_client", 4, "workers", WorkersRequest{.request_id = 6});
  put_wire("wire_client", 5, "ping", Ping{.request_id = 9});

  WorkerReady ready{.worker_id = "w1", .heartbeat_interval_ms = 500};
  ready.devices = {DeviceInfo{0, {"stories", "qwen@2"}, 4, 8}, DeviceInfo{1, {"stories"}, 8, 8}};
  ready.jobs = {ReadyJob{"j1", 1, 0, 12}};
  put_wire("wire_worker", 0, "ready", ready);
  WorkerHeartbeat beat{.worker_id = "w1"};
  beat.devices = {DeviceLoad{.index = 0, .free_slots = 3, .running = 1, .kv_blocks_free = 90,
                             .kv_blocks_total = 128, .has_models = true, .models = {"stories"},
                             .no_chat = {"stories: no template"}}};
  put_wire("wire_worker", 1, "heartbeat", beat);
  put_wire("wire_worker", 2, "tokens", WorkerTokens{sample_tokens()});
  put_wire("wire_worker", 3, "done", WorkerDone{.job_id = "j1", .attempt = 1, .usage = sample_record().usage,
                                                .finish_reason = "length"});
  put_wire("wire_worker", 4, "failed", WorkerFailed{.job_id = "j1", .attempt = 2, .device = 1,
                                                    .code = ErrorCode::kInternal, .message = "oom"});
  put_wire("wire_worker", 5, "disconnect", WorkerDisconnect{.worker_id = "w1", .reason = "shutdown"});

  Dispatch d{.job_id = "j1", .attempt = 2, .device = 1, .request = chat, .created_ms = 1700000000000};
  d.resume_tokens = {5, 6, 7};
  put_wire("wire_dispatch", 0, "dispatch", d);
  put_wire("wire_dispatch", 0, "dispatch_plain", Dispatch{.job_id = "j2", .request = s});
  put_wire("wire_dispatch", 1, "cancel_job", CancelJob{.job_id = "j1", .attempt = 2, .device = 1});
  put_wire("wire_dispatch", 2, "heartbeat", BrokerHeartbeat{.broker_time_ms = 1700000000000});
  put_wire("wire_dispatch", 3, "disconnect", BrokerDisconnect{.reason = "unknown worker: send READY"});

  // wire_frames: FuzzedDataProvider layout (strings from the front, "\\" + any ends one;
  // the frame count is the last byte).
  auto frames_seed = [](const Frames& f) {
    std::string out;
    for (size_t i = 0; i + 1 < f.size(); ++i) out += f[i] + "\\n";
    return out + f.back() + static_cast<char>(f.size());
  };
  put("wire_frames", "submit", frames_seed(make_frames(s)));
  put("wire_frames", "tokens", frames_seed(make_frames(TokenBatch{sample_tokens()})));
  put("wire_frames", "done", frames_seed(make_frames(Done{sample_record()})));
  put("wire_frames", "ready", frames_seed(make_frames(ready)));
  put("wire_frames", "dispatch", frames_seed(make_frames(d)));
  WorkersReply wr{.request_id = 1};
  wr.devices = {DeviceStatus{.worker = "w1", .models = {"stories"}, .free_slots = 2, .max_slots = 4}};
  put("wire_frames", "workers_reply", frames_seed(make_frames(wr)));
  put("wire_frames", "error", frames_seed(make_frames(ErrorReply{.request_id = 2, .code = ErrorCode::kLagged,
                                                                 .message = "lagged", .job_id = "j1", .next_seq = 9})));
}

void store_seeds() {
  using namespace rs::store;
  put("store_records", "job", std::string(1, '\0') + nul_fields(job_to_fields(sample_record())));
  ModelVersion mv;
  mv.name = "stories";
  mv.version = 2;
  mv.path = "/models/stories260K.gguf";
  put("store_records", "model", std::string(1, '\1') + nul_fields(model_to_fields(mv)));
  IngestItem item;
  item.batch = "b1";
  item.item_id = "i1";
  item.request = sample_submit();
  put("store_records", "ingest", std::string(1, '\2') + nul_fields(ingest_to_fields(item)));
  BatchResult br{.batch = "b1", .item_id = "i1", .text = "The end.", .record = sample_record()};
  put("store_records", "result", std::string(1, '\3') + nul_fields(result_to_fields(br)));
  put("store_records", "event", std::string(1, '\4') + "17 stories activate 2");
  put("store_records", "load", std::string(1, '\5') + resp_fields(job_to_fields(sample_record())));
  put("store_records", "create", std::string(1, '\6') + "*2\r\n:1\r\n$2\r\nj1\r\n");
  RedisConnection conn(RedisOptions{.port = 1});
  TokenLog log(conn);
  std::vector<RedisCommand> commands;
  log.append_commands(sample_tokens(), commands);
  log.finish_commands("j1", JobState::kSucceeded, 3, commands);
  std::vector<std::string> entries;
  for (const auto& c : commands) {
    if (c.size() < 3 || c[0] != "XADD") continue;
    std::vector<std::string> fields;
    for (size_t i = 3; i < c.size(); ++i) fields.push_back(resp_bulk(c[i]));
    entries.push_back(resp_array({resp_bulk(c[2]), resp_array(fields)}));
  }
  put("store_records", "token_range", std::string(1, '\7') + resp_array(entries));
  put("store_records", "append_replies",
      std::string(1, '\10') + "$4\r\n1-10\r\n-ERR The ID specified in XADD is equal or smaller\r\n+OK\r\n");
  put("store_records", "request_msgpack", std::string(1, '\11') + encode(sample_submit()));
}

void gguf_seeds() {
  using namespace rs::engine;
  const ByteLevelVocab v = make_byte_level_vocab();
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "gpt-2");
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_i32_array("tokenizer.ggml.token_type", v.token_types);
  w.add_string_array("tokenizer.ggml.merges", v.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_tensor("token_embd.weight", {4, 2}, GgmlType::kF32, std::vector<uint8_t>(32, 0));
  auto bytes = w.serialize();
  put("gguf", "byte_level_vocab", std::string(bytes.begin(), bytes.end()));

  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  for (const char* p : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab"}) {
    tokens.push_back(p);
    types.push_back(1);
    scores.push_back(static_cast<float>(tokens.size()));
  }
  GgufWriter spm;
  spm.add_string("tokenizer.ggml.model", "llama");
  spm.add_string_array("tokenizer.ggml.tokens", tokens);
  spm.add_i32_array("tokenizer.ggml.token_type", types);
  spm.add_f32_array("tokenizer.ggml.scores", scores);
  spm.add_u32("tokenizer.ggml.bos_token_id", 1);
  spm.add_u32("tokenizer.ggml.eos_token_id", 2);
  spm.add_string("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
  spm.add_tensor("output_norm.weight", {4}, GgmlType::kF32, std::vector<uint8_t>(16, 0));
  spm.add_tensor("blk.0.attn_q.weight", {32, 2}, GgmlType::kQ8_0, std::vector<uint8_t>(68, 0));
  spm.add_tensor("blk.0.ffn_up.weight", {8, 2}, GgmlType::kF16, std::vector<uint8_t>(32, 0));
  bytes = spm.serialize();
  put("gguf", "spm_tensors", std::string(bytes.begin(), bytes.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz-seeds OUT_DIR\n";
    return 2;
  }
  g_out = argv[1];
  wire_seeds();
  store_seeds();
  gguf_seeds();
  return 0;
}
