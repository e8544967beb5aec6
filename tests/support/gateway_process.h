// GatewayProcess: a real `ringserve-gateway` in front of a test Pool (tests/support/
// process_harness.h), with an API key made in the pool's Redis, plus the SSE helpers the
// gateway tests share: text of a completion chunk, a stream read to its end. Test thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http_client.h"
#include "process_harness.h"
#include "rs/store/api_keys.h"

namespace rs::test {

class GatewayProcess {
 public:
  explicit GatewayProcess(Pool& pool) : pool_(pool) {}
  ~GatewayProcess() {
    if (process_) process_->terminate(3000);
  }

  // The scopes of the key start() makes (before the first start; default infer,jobs:read).
  void set_scopes(store::ApiScopes scopes) { scopes_ = scopes; }

  // Starts (or restarts, on a new port) the gateway; makes the API key (tenant acme) once.
  bool start(const std::vector<std::string>& extra = {}) {
    if (key_.empty()) {
      store::ApiKeys keys(pool_.redis());
      auto k = keys.add("acme", scopes_);
      if (!k.ok()) return false;
      key_ = k->key;
    }
    std::vector<std::string> argv = {program("ringserve-gateway"),
                                     "--broker",
                                     pool_.client_endpoint(),
                                     "--redis",
                                     pool_.redis_address(),
                                     "--port",
                                     "0",
                                     "--log-level",
                                     "info"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>();
    if (!process_->start(argv, pool_.dir().file("gateway-" + std::to_string(++starts_) + ".log")))
      return false;
    auto line = process_->wait_for_line("http_url ", 20000);
    if (!line) return false;
    port_ = std::stoi(line->substr(line->rfind(':') + 1));
    return true;
  }
  void kill_hard() { process_->kill_hard(); }
  bool terminate(int grace_ms) { return process_->terminate(grace_ms); }
  ChildProcess& process() { return *process_; }
  int port() const { return port_; }
  const std::string& key() const { return key_; }
  std::string auth() const { return "Authorization: Bearer " + key_; }

  std::optional<HttpResponse> request(const std::string& method, const std::string& target,
                                      const std::string& body = "",
                                      std::vector<std::string> headers = {}) {
    HttpConnection c;
    if (!c.connect(port_)) return std::nullopt;
    headers.push_back(auth());
    return c.request(method, target, body, headers);
  }

 private:
  Pool& pool_;
  std::unique_ptr<ChildProcess> process_;
  std::string key_;
  store::ApiScopes scopes_ = store::kDefaultScopes;
  int port_ = 0;
  int starts_ = 0;
};

// What a stream (or part of one) held.
struct StreamRead {
  int status = 0;
  std::string job;               // x-ringserve-job
  std::vector<std::string> ids;  // event ids in order ("" for events without one)
  std::string text;              // the concatenated choice text
  std::string finish_reason;
  bool done = false;  // [DONE] arrived
  std::optional<nlohmann::json> usage;
  int comments = 0;
  std::vector<nlohmann::json> logprobs;  // each chunk's non-null choices[].logprobs, in order
};

// Reads events into `out` until [DONE], the end, or `max_text_events` events with text.
inline void read_events(HttpConnection& c, StreamRead& out, int max_text_events = -1,
                        int timeout_ms = 60000) {
  int text_events = 0;
  while (max_text_events < 0 || text_events < max_text_events) {
    auto e = c.next_event(timeout_ms);
    if (!e) return;
    if (e->comment && e->data.empty()) {
      ++out.comments;
      continue;
    }
    if (e->data == "[DONE]") {
      out.done = true;
      return;
    }
    auto j = nlohmann::json::parse(e->data, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("usage") && !j["usage"].is_null()) out.usage = j["usage"];
    if (!j.contains("choices")) continue;
    for (const auto& ch : j["choices"]) {
      out.text += ch.value("text", "");
      if (ch.contains("logprobs") && !ch["logprobs"].is_null()) out.logprobs.push_back(ch["logprobs"]);
      if (ch.contains("finish_reason") && ch["finish_reason"].is_string())
        out.finish_reason = ch["finish_reason"];
    }
    if (!e->id.empty()) {
      out.ids.push_back(e->id);
      ++text_events;
    }
  }
}

// Opens a stream (POST body, or GET target with headers) and reads its head into out's
// status and job (a StreamRead, or a test's own reader with those two fields).
template <class Read>
bool open_stream(HttpConnection& c, int port, const std::string& method, const std::string& target,
                 const std::string& body, const std::vector<std::string>& headers, Read& out) {
  if (!c.connect(port) || !c.send_request(method, target, body, headers)) return false;
  auto head = c.read_head(60000);
  if (!head) return false;
  out.status = head->status;
  out.job = head->header("x-ringserve-job");
  return true;
}

}  // namespace rs::test
