// bench-gateway: the same streamed load through the HTTP gateway and straight through
// rs_client, in one run (and through llama-server on the same file with --llama-server).
// Starts a private redis-server, ringserve-broker, one ringserve-worker (--threads) and
// ringserve-gateway (--no-auth). Each phase sends `requests` streamed completions of
// `tokens` tokens (ignore_eos) from `concurrency` client threads; it times each request's
// first token (TTFT, at the client) and the phase's aggregate tokens per second. Phases
// alternate direct / gateway for `rounds` rounds; then chat / chat-plain: the same
// conversations as /v1/chat/completions (rendered on the worker) and as /v1/completions of
// the prompt `ringserve-model chat` renders (same seeds, same token budget), so the two
// TTFTs side by side show what rendering on the worker costs. JSON (--out or stdout) + one
// summary line per comparison.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "http_client.h"
#include "redis_server.h"
#include "rs/client/client.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using rs::test::ChildProcess;

struct Load {
  std::string model = "bench";
  int requests = 64;
  int concurrency = 16;
  int tokens = 128;
};

struct Phase {
  std::string name;
  double wall_s = 0;
  uint64_t tokens = 0;
  int failed = 0;
  std::vector<double> ttft_ms;
  double tok_s() const { return wall_s > 0 ? static_cast<double>(tokens) / wall_s : 0; }
  double ttft_p(double q) const {
    if (ttft_ms.empty()) return 0;
    std::vector<double> v = ttft_ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  }
  json to_json() const {
    return {{"name", name},          {"wall_s", wall_s},           {"tokens", tokens},
            {"tok_s", tok_s()},      {"ttft_p50_ms", ttft_p(0.5)}, {"ttft_p90_ms", ttft_p(0.9)},
            {"failed", failed},      {"requests", ttft_ms.size() + static_cast<size_t>(failed)}};
  }
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string prompt_of(int i) { return "Request " + std::to_string(i) + ": once upon a time there was a ring"; }

// `load.requests` requests split over `load.concurrency` threads; one(i) -> (ttft_ms, tokens).
template <typename One>
Phase run_phase(const std::string& name, const Load& load, One one) {
  Phase p{.name = name};
  std::mutex mu;
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < load.concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto state = one.make_state(t);
      for (int i = next++; i < load.requests; i = next++) {
        auto [ttft, tokens] = one.run(state, i);
        std::lock_guard<std::mutex> lock(mu);
        if (tokens <= 0) {
          ++p.failed;
        } else {
          p.ttft_ms.push_back(ttft);
          p.tokens += static_cast<uint64_t>(tokens);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  p.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  return p;
}

struct DirectOne {
  std::string endpoint;
  Load load;
  std::unique_ptr<rs::client::Client> make_state(int) {
    auto c = rs::client::Client::connect(rs::client::ClientOptions{.endpoint = endpoint, .request_timeout_ms = 60000});
    return c.ok() ? std::move(c).value() : nullptr;
  }
  std::pair<double, int> run(std::unique_ptr<rs::client::Client>& c, int i) {
    if (!c) return {0, 0};
    rs::schemas::SubmitRequest r;
    r.model = load.model;
    r.prompt = prompt_of(i);
    r.max_tokens = static_cast<uint32_t>(load.tokens);
    r.sampling.temperature = 0.8f;
    r.sampling.seed = static_cast<uint64_t>(i);
    r.ignore_eos = true;
    const auto t0 = Clock::now();
    auto a = c->submit(r);
    if (!a.ok()) return {0, 0};
    double ttft = -1;
    int n = 0;
    auto done = c->wait(a->job_id, [&](const rs::schemas::TokenEntry&) {
      if (ttft < 0) ttft = ms_since(t0);
      ++n;
    });
    return done.ok() ? std::make_pair(ttft, n) : std::make_pair(0.0, 0);
  }
};

// One request through an OpenAI-style HTTP server: request i's body from make_body(i);
// TTFT at the first event with text (a completion's text or a chat delta's content).
struct HttpOne {
  int port = 0;
  std::string path = "/v1/completions";
  std::function<json(int)> make_body;
  std::unique_ptr<rs::test::HttpConnection> make_state(int) { return std::make_unique<rs::test::HttpConnection>(); }
  static bool has_text(const json& j) {
    if (!j.contains("choices") || j["choices"].empty()) return false;
    const json& c = j["choices"][0];
    if (c.contains("text")) return c["text"].is_string() && !c["text"].get<std::string>().empty();
    const json delta = c.value("delta", json::object());
    return delta.contains("content") && delta["content"].is_string() && !delta["content"].get<std::string>().empty();
  }
  std::pair<double, int> run(std::unique_ptr<rs::test::HttpConnection>& c, int i) {
    const std::string body = make_body(i).dump();
    const auto t0 = Clock::now();
    if (!c->open() && !c->connect(port)) return {0, 0};
    if (!c->send_request("POST", path, body) || !c->read_head(120000)) {
      c->close();
      return {0, 0};
    }
    double ttft = -1;
    int events = 0, usage_tokens = -1;
    for (;;) {
      auto e = c->next_event(120000);
      if (!e || e->data == "[DONE]") break;
      if (e->data.empty()) continue;
      auto j = json::parse(e->data, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("usage") && j["usage"].is_object()) usage_tokens = j["usage"].value("completion_tokens", -1);
      if (has_text(j)) {
        if (ttft < 0) ttft = ms_since(t0);
        ++events;
      }
    }
    c->close();  // one connection per request, as most SDK users get under concurrency
    return {ttft, usage_tokens >= 0 ? usage_tokens : events};
  }
};

// The streamed sampling fields every HTTP phase sends.
json stream_fields(const Load& load, int i) {
  return {{"model", load.model},     {"max_tokens", load.tokens},
          {"temperature", 0.8},      {"seed", i},
          {"stream", true},          {"ignore_eos", true},
          {"stream_options", {{"include_usage", true}}}};
}

HttpOne completion_phase(int port, const Load& load) {
  return HttpOne{.port = port, .make_body = [load](int i) {
                   json b = stream_fields(load, i);
                   b["prompt"] = prompt_of(i);
                   return b;
                 }};
}

// The chat phases' conversations: kConversations distinct ones, request i has i % that.
constexpr int kConversations = 8;
json conversation_of(int i) {
  return json::array({{{"role", "system"}, {"content", "You tell short stories."}},
                      {{"role", "user"}, {"content", prompt_of(i % kConversations)}}});
}

// Each conversation as the model's template renders it (`ringserve-model chat`); empty when
// the model cannot (no template, and none given).
std::vector<std::string> render_conversations(const std::string& bin_dir, const std::string& model_file,
                                              const std::string& chat_template, const std::string& err_file) {
  std::vector<std::string> out;
  for (int i = 0; i < kConversations; ++i) {
    std::vector<std::string> argv = {bin_dir + "/ringserve-model", "chat", model_file, "--messages",
                                     conversation_of(i).dump(), "--add-generation-prompt"};
    if (!chat_template.empty()) argv.insert(argv.end(), {"--template", chat_template});
    auto r = rs::test::run_program(argv, err_file, 60000);
    if (!r) return {};
    out.push_back(*r);
  }
  return out;
}

HttpOne chat_phase(int port, const Load& load) {
  return HttpOne{.port = port, .path = "/v1/chat/completions", .make_body = [load](int i) {
                   json b = stream_fields(load, i);
                   b["messages"] = conversation_of(i);
                   return b;
                 }};
}

HttpOne rendered_phase(int port, const Load& load, std::vector<std::string> rendered) {
  return HttpOne{.port = port, .make_body = [load, rendered = std::move(rendered)](int i) {
                   json b = stream_fields(load, i);
                   b["prompt"] = rendered[static_cast<size_t>(i % kConversations)];
                   return b;
                 }};
}

// The mean of the phases' tok/s and TTFT p50.
struct Summary {
  double tok_s = 0, ttft = 0;
};
Summary summarize(const std::vector<Phase>& phases, json& all) {
  Summary s;
  for (const auto& p : phases) {
    all.push_back(p.to_json());
    s.tok_s += p.tok_s() / static_cast<double>(phases.size());
    s.ttft += p.ttft_p(0.5) / static_cast<double>(phases.size());
  }
  return s;
}

std::string bin_path(const std::string& dir, const char* name) { return dir + "/" + name; }

// A loopback port free right now (for programs that cannot pick their own).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

// llama-server on the same file: `rounds` phases of the completion load (empty if it did
// not come up).
std::vector<Phase> run_llama(const std::string& llama_server, const std::string& model_file, const Load& load,
                             int threads, int rounds, rs::test::TempDir& dir) {
  std::vector<Phase> out;
  ChildProcess llama;
  const int llama_port = free_port();
  llama.start({llama_server, "-m", model_file, "--host", "127.0.0.1", "--port", std::to_string(llama_port), "-np",
               std::to_string(load.concurrency), "-t", std::to_string(threads), "-c",
               std::to_string(load.concurrency * (load.tokens + 64))},
              dir.file("llama.log"));
  bool up = false;
  for (int i = 0; i < 600 && !up; ++i) {
    rs::test::HttpConnection c;
    auto r = c.connect(llama_port) ? c.request("GET", "/health", "", {}, 2000) : std::nullopt;
    up = r && r->status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (up) {
    Load warm = load;
    warm.requests = load.concurrency;
    warm.tokens = 8;
    run_phase("warmup", warm, completion_phase(llama_port, warm));
    for (int r = 0; r < rounds; ++r) out.push_back(run_phase("llama-server", load, completion_phase(llama_port, load)));
  } else {
    std::fprintf(stderr, "bench-gateway: llama-server did not come up (log %s)\n", dir.file("llama.log").c_str());
  }
  llama.terminate(3000);
  return out;
}

// The chat comparison, alternating: chat through the gateway, then the same conversations
// rendered by `ringserve-model chat` as plain completions (empty when nothing renders).
std::pair<std::vector<Phase>, std::vector<Phase>> run_chat(int port, const Load& load, int rounds,
                                                           const std::vector<std::string>& rendered) {
  std::vector<Phase> chat, plain;
  if (rendered.empty()) return {chat, plain};
  Load warm = load;
  warm.requests = load.concurrency;
  warm.tokens = 8;
  run_phase("warmup", warm, chat_phase(port, warm));
  for (int r = 0; r < rounds; ++r) {
    chat.push_back(run_phase("chat", load, chat_phase(port, load)));
    plain.push_back(run_phase("chat-plain", load, rendered_phase(port, load, rendered)));
  }
  return {chat, plain};
}

int main(int argc, char** argv) {
  CLI::App app{"bench-gateway: streamed load through the HTTP gateway vs rs_client directly"};
  Load load;
  std::string model_file, bin_dir, out, llama_server, chat_template;
  int threads = 2, rounds = 2;
  bool chat = true;
  app.add_option("--model", model_file, "GGUF model file")->required();
  app.add_option("--bin", bin_dir, "directory of the ringserve programs")->required();
  app.add_option("--requests", load.requests, "requests per phase")->capture_default_str();
  app.add_option("--concurrency", load.concurrency, "client threads")->capture_default_str();
  app.add_option("--tokens", load.tokens, "tokens per request")->capture_default_str();
  app.add_option("--threads", threads, "the worker's matmul threads")->capture_default_str();
  app.add_option("--rounds", rounds, "direct/gateway (and chat/chat-plain) phase pairs")->capture_default_str();
  app.add_option("--llama-server", llama_server, "llama-server binary: a third phase on the same file");
  app.add_option("--chat-template", chat_template,
                 "Jinja chat template for the worker (for a model without one, e.g. examples/chat/chatml.jinja)");
  app.add_flag("!--no-chat", chat, "skip the chat / chat-plain phases");
  app.add_option("--out", out, "JSON output file (default stdout)");
  CLI11_PARSE(app, argc, argv);

  rs::test::RedisServer redis;
  if (!redis.start()) return std::fprintf(stderr, "bench-gateway: redis-server did not start\n"), 1;
  rs::test::TempDir dir("rs-bench-gateway");
  ChildProcess broker, worker, gateway;
  if (!broker.start({bin_path(bin_dir, "ringserve-broker"), "--redis", "127.0.0.1:" + std::to_string(redis.port()),
                     "--log-level", "warn", "--insecure"},
                    dir.file("broker.log"))) {
    return std::fprintf(stderr, "bench-gateway: broker did not start\n"), 1;
  }
  auto ce = broker.wait_for_line("client_endpoint ", 20000);
  auto we = broker.wait_for_line("worker_endpoint ", 20000);
  if (!ce || !we) return std::fprintf(stderr, "bench-gateway: broker did not start\n"), 1;
  const std::string client_ep = ce->substr(16), worker_ep = we->substr(16);
  std::vector<std::string> worker_argv = {bin_path(bin_dir, "ringserve-worker"), "--broker", worker_ep, "--model",
                                          model_file, "--model-name", load.model, "--threads", std::to_string(threads),
                                          "--max-batch-size", std::to_string(load.concurrency), "--log-level", "warn"};
  if (!chat_template.empty()) worker_argv.insert(worker_argv.end(), {"--chat-template", chat_template});
  worker.start(worker_argv, dir.file("worker.log"));
  gateway.start({bin_path(bin_dir, "ringserve-gateway"), "--broker", client_ep, "--no-auth", "--log-level", "warn"},
                dir.file("gateway.log"));
  auto url = gateway.wait_for_line("http_url ", 20000);
  if (!url) return std::fprintf(stderr, "bench-gateway: gateway did not start\n"), 1;
  const int port = std::stoi(url->substr(url->rfind(':') + 1));
  // Wait until the worker serves (a first request succeeds).
  auto probe = rs::client::Client::connect(rs::client::ClientOptions{.endpoint = client_ep});
  for (int i = 0; i < 600; ++i) {
    auto w = (*probe)->workers();
    if (w.ok() && !w->empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Warm-up (the model's pages, the first batch).
  Load warm = load;
  warm.requests = load.concurrency;
  warm.tokens = 8;
  run_phase("warmup", warm, DirectOne{client_ep, warm});

  std::vector<Phase> direct, via_gateway, via_llama;
  for (int r = 0; r < rounds; ++r) {
    direct.push_back(run_phase("direct", load, DirectOne{client_ep, load}));
    via_gateway.push_back(run_phase("gateway", load, completion_phase(port, load)));
  }
  std::vector<std::string> rendered;
  if (chat) {
    rendered = render_conversations(bin_dir, model_file, chat_template, dir.file("render.err"));
    if (rendered.empty()) {
      std::fprintf(stderr, "bench-gateway: the model has no chat template (give --chat-template): no chat phases (%s)\n",
                   dir.file("render.err").c_str());
    }
  }
  auto [via_chat, via_rendered] = run_chat(port, load, rounds, rendered);
  if (!llama_server.empty()) via_llama = run_llama(llama_server, model_file, load, threads, rounds, dir);
  json phases = json::array();
  const Summary d = summarize(direct, phases), l = summarize(via_llama, phases), g = summarize(via_gateway, phases);
  const Summary c = summarize(via_chat, phases), p = summarize(via_rendered, phases);
  json result = {{"bench", "gateway"},
                 {"model", model_file},
                 {"load", {{"requests", load.requests}, {"concurrency", load.concurrency}, {"tokens", load.tokens}}},
                 {"worker_threads", threads},
                 {"phases", phases},
                 {"direct_tok_s", d.tok_s},
                 {"gateway_tok_s", g.tok_s},
                 {"gateway_over_direct", d.tok_s > 0 ? g.tok_s / d.tok_s : 0},
                 {"direct_ttft_p50_ms", d.ttft},
                 {"gateway_ttft_p50_ms", g.ttft}};
  if (!via_chat.empty()) {
    result["chat_tok_s"] = c.tok_s;
    result["chat_plain_tok_s"] = p.tok_s;
    result["chat_ttft_p50_ms"] = c.ttft;
    result["chat_plain_ttft_p50_ms"] = p.ttft;
    result["chat_ttft_over_plain_ms"] = c.ttft - p.ttft;
  }
  if (!via_llama.empty()) {
    result["llama_server_tok_s"] = l.tok_s;
    result["llama_server_ttft_p50_ms"] = l.ttft;
    result["gateway_over_llama_server"] = l.tok_s > 0 ? g.tok_s / l.tok_s : 0;
  }
  if (out.empty()) {
    std::cout << result.dump(2) << "\n";
  } else {
    std::ofstream(out) << result.dump(2) << "\n";
  }
  std::printf("bench-gateway: direct %.0f tok/s, TTFT p50 %.1f ms | gateway %.0f tok/s (%.1f%%), TTFT p50 %.1f ms (%+.1f ms)\n",
              d.tok_s, d.ttft, g.tok_s, d.tok_s > 0 ? 100.0 * g.tok_s / d.tok_s : 0.0, g.ttft, g.ttft - d.ttft);
  if (!via_chat.empty()) {
    std::printf("bench-gateway: chat TTFT p50 %.1f ms vs plain (same prompt rendered) %.1f ms (%+.1f ms) | "
                "chat %.0f tok/s vs plain %.0f tok/s\n",
                c.ttft, p.ttft, c.ttft - p.ttft, c.tok_s, p.tok_s);
  }
  if (!via_llama.empty()) {
    std::printf("bench-gateway: llama-server %.0f tok/s, TTFT p50 %.1f ms (gateway %.2fx its tok/s, %.2fx its TTFT)\n",
                l.tok_s, l.ttft, l.tok_s > 0 ? g.tok_s / l.tok_s : 0.0, l.ttft > 0 ? g.ttft / l.ttft : 0.0);
  }
  gateway.terminate(3000);
  worker.terminate(3000);
  broker.terminate(3000);
  return 0;
}
