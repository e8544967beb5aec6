// route(): paths, methods, authentication and the one-shot broker requests.
#include "router.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

#include "access.h"
#include "asio.h"
#include "completion_exchange.h"
#include "events_exchange.h"
#include "gateway_context.h"
#include "http_session.h"
#include "json_text.h"

namespace rs::gateway {

using nlohmann::json;

namespace {

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The response a job belongs to (from its api_meta), null for a job from outside the gateway.
json response_json(const schemas::JobRecord& r) {
  auto meta = decode_api_meta(r.api_meta);
  if (!meta) return nullptr;
  return json{
      {"object", meta->kind}, {"id", meta->id}, {"model", meta->model}, {"index", meta->index}};
}

json job_json(const schemas::JobRecord& r) {
  json error = nullptr;
  if (r.error_code != schemas::ErrorCode::kOk || !r.error.empty()) {
    error = {{"code", std::string(schemas::error_code_name(r.error_code))}, {"message", r.error}};
  }
  return json{{"id", r.job_id},
              {"object", "job"},
              {"state", std::string(schemas::job_state_name(r.state))},
              {"model", r.model},
              {"model_version", r.model_version},
              {"tenant", r.tenant},
              {"priority", std::string(schemas::priority_name(r.priority))},
              {"attempt", r.attempt},
              {"finish_reason", r.finish_reason.empty() ? json(nullptr) : json(r.finish_reason)},
              {"error", error},
              {"usage",
               {{"prompt_tokens", r.usage.prompt_tokens},
                {"completion_tokens", r.usage.completion_tokens},
                {"total_tokens", r.usage.prompt_tokens + r.usage.completion_tokens},
                {"queue_ms", r.usage.queue_ms},
                {"ttft_ms", r.usage.ttft_ms},
                {"decode_tps", r.usage.decode_tps}}},
              {"created_ms", r.created_ms},
              {"started_ms", r.started_ms},
              {"finished_ms", r.finished_ms},
              {"response", response_json(r)}};
}

// A one-shot broker request answered on the session (models, job status, cancel).
void one_shot(const std::shared_ptr<HttpSession>& session, GatewayContext& context,
              BridgeCommand cmd, std::function<void(HttpSession&, BridgeEvent)> answer) {
  cmd.listener = make_listener(context, session, std::move(answer));
  session->await_answer();
  context.bridge.post(std::move(cmd));
}

void list_models(const std::shared_ptr<HttpSession>& session, GatewayContext& context) {
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kWorkers;
  one_shot(session, context, std::move(cmd), [](HttpSession& s, BridgeEvent e) {
    if (e.kind != BridgeEvent::Kind::kWorkers) return s.respond_error(from_broker(e.error));
    std::set<std::string> names;
    for (const auto& d : e.devices) names.insert(d.models.begin(), d.models.end());
    json data = json::array();
    for (const auto& n : names)
      data.push_back({{"id", n}, {"object", "model"}, {"created", 0}, {"owned_by", "ringserve"}});
    s.respond(http::status::ok, json_text(json{{"object", "list"}, {"data", data}}));
  });
}

// GET /v1/admin/workers (admin): the pool's devices as the broker sees them.
void list_workers(const std::shared_ptr<HttpSession>& session, GatewayContext& context) {
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kWorkers;
  one_shot(session, context, std::move(cmd), [](HttpSession& s, BridgeEvent e) {
    if (e.kind != BridgeEvent::Kind::kWorkers) return s.respond_error(from_broker(e.error));
    json data = json::array();
    for (const auto& d : e.devices) {
      data.push_back({{"worker", d.worker},
                      {"device", d.device},
                      {"models", d.models},
                      {"running", d.running},
                      {"free_slots", d.free_slots},
                      {"max_slots", d.max_slots},
                      {"kv_blocks_free", d.kv_blocks_free},
                      {"kv_blocks_total", d.kv_blocks_total},
                      {"last_heartbeat_ms", d.last_heartbeat_ms}});
    }
    s.respond(http::status::ok, json_text(json{{"object", "list"}, {"data", data}}));
  });
}

void job_request(const std::shared_ptr<HttpSession>& session, GatewayContext& context,
                 const std::string& job_id, const Caller& caller, bool cancel) {
  // The tenant check needs the record first; a cancel is sent only for the tenant's job.
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kStatus;
  cmd.job_id = job_id;
  one_shot(session, context, std::move(cmd),
           [&context, job_id, caller, cancel](HttpSession& s, BridgeEvent e) {
             if (e.kind != BridgeEvent::Kind::kStatus)
               return s.respond_error(job_error(e.error, job_id));
             if (!may_access_job(caller, e.record.tenant))
               return s.respond_error(job_not_found(job_id));
             if (!cancel) return s.respond(http::status::ok, json_text(job_json(e.record)));
             BridgeCommand c;
             c.kind = BridgeCommand::Kind::kCancel;
             c.job_id = job_id;
             one_shot(s.shared_from_this(), context, std::move(c),
                      [](HttpSession& s2, BridgeEvent e2) {
                        if (e2.kind != BridgeEvent::Kind::kStatus)
                          return s2.respond_error(from_broker(e2.error));
                        s2.respond(http::status::ok, json_text(job_json(e2.record)));
                      });
           });
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// POST /v1/completions and /v1/chat/completions: parse (a 400 naming the field), plan the
// jobs, hand them to a CompletionExchange.
template <typename Parsed, typename Parse, typename Plan>
void generation(const std::shared_ptr<HttpSession>& session, GatewayContext& context,
                const std::string& tenant, Parse parse, Plan plan) {
  const Request& req = session->request();
  Parsed parsed;
  RequestLimits limits;
  limits.max_n = context.options.max_n;
  if (auto e = parse(req.body(), limits, parsed)) return session->respond_error(*e);
  auto bg = req.find("x-ringserve-background");
  if (bg != req.end() && (bg->value() == "1" || bg->value() == "true")) parsed.background = true;
  if (!context.bridge.broker_up()) {
    return session->respond_error(from_broker(
        schemas::wire_error(schemas::ErrorCode::kUnavailable,
                            "broker unreachable at " + context.options.broker_endpoint)));
  }
  session->hold(std::make_shared<CompletionExchange>(
      session, context, plan(parsed, tenant, unix_seconds(), context.rng)));
}

void events(const std::shared_ptr<HttpSession>& session, GatewayContext& context,
            const std::string& job_id, std::string_view query, const Caller& caller) {
  const Request& req = session->request();
  std::optional<uint64_t> after;
  auto last = req.find("last-event-id");
  if (last != req.end() && !last->value().empty()) {
    after = parse_u64(last->value());
    if (!after)
      return session->respond_error(
          bad_request("Last-Event-ID", "Last-Event-ID must be a token seq"));
  }
  const auto from_at = query.find("from=");
  if (from_at != std::string_view::npos) {
    std::string_view v = query.substr(from_at + 5);
    v = v.substr(0, v.find('&'));
    auto from = parse_u64(v);
    if (!from) return session->respond_error(bad_request("from", "'from' must be a token seq"));
    if (*from > 0) after = *from - 1;
  }
  if (context.metrics != nullptr) context.metrics->resumed();
  session->hold(std::make_shared<EventsExchange>(session, context, job_id, after, caller));
}

void wrong_method(HttpSession& session, std::string_view target) {
  ApiError e = bad_request("",
                           std::string(session.request().method_string()) + " is not allowed on " +
                               std::string(target),
                           "method_not_allowed");
  e.status = 405;
  session.respond_error(e);
}

// /v1/jobs/{id} (GET, DELETE) and /v1/jobs/{id}/events (GET): jobs:read or admin, then
// the tenant rule once the record is read (access.h).
void jobs_route(const std::shared_ptr<HttpSession>& session, GatewayContext& context,
                std::string_view target, std::string_view rest, std::string_view query,
                const Caller& caller) {
  if (auto e = require_job_access(caller)) return session->respond_error(*e);
  constexpr std::string_view kEvents = "/events";
  const bool is_events =
      rest.size() > kEvents.size() && rest.substr(rest.size() - kEvents.size()) == kEvents;
  if (is_events) rest = rest.substr(0, rest.size() - kEvents.size());
  if (rest.empty() || rest.find('/') != std::string_view::npos || rest.size() > 256) {
    return session->respond_error(job_not_found(rest));
  }
  const std::string job_id(rest);
  const http::verb method = session->request().method();
  if (is_events) {
    if (method != http::verb::get) return wrong_method(*session, target);
    return events(session, context, job_id, query, caller);
  }
  if (method == http::verb::get) return job_request(session, context, job_id, caller, false);
  if (method == http::verb::delete_) return job_request(session, context, job_id, caller, true);
  wrong_method(*session, target);
}

}  // namespace

std::optional<ApiError> authenticate(const HttpSession& session, GatewayContext& context,
                                     Caller& caller) {
  if (context.keys == nullptr) return std::nullopt;
  const Request& req = session.request();
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return unauthorized("missing API key: send 'Authorization: Bearer KEY'");
  std::string_view v = it->value();
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size() || v.substr(0, kBearer.size()) != kBearer) {
    return unauthorized("the Authorization header must be 'Bearer KEY'");
  }
  auto grant = context.keys->grant_of(v.substr(kBearer.size()));
  if (!grant) return unauthorized("invalid or revoked API key");
  caller.tenant = std::move(grant->tenant);
  caller.scopes = grant->scopes;
  return std::nullopt;
}

void route(const std::shared_ptr<HttpSession>& session, GatewayContext& context) {
  const Request& req = session->request();
  std::string_view target = req.target();
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  const http::verb method = req.method();
  if (target == "/health") {
    json h = {{"status", "ok"}, {"broker", context.bridge.broker_up() ? "up" : "down"}};
    return session->respond(http::status::ok, json_text(h));
  }
  Caller caller;
  if (target.substr(0, 4) == "/v1/") {
    if (auto e = authenticate(*session, context, caller)) {
      if (context.metrics != nullptr) context.metrics->auth_failed();
      return session->respond_error(*e);
    }
  }
  auto refused = [&](store::ApiScopes scope) {
    auto e = require_scope(caller, scope);
    if (e) session->respond_error(*e);
    return e.has_value();
  };
  if (target == "/v1/models") {
    if (method != http::verb::get) return wrong_method(*session, target);
    if (refused(store::kScopeInfer)) return;
    return list_models(session, context);
  }
  if (target == "/v1/admin/workers") {
    if (method != http::verb::get) return wrong_method(*session, target);
    if (refused(store::kScopeAdmin)) return;
    return list_workers(session, context);
  }
  if (target == "/v1/completions") {
    if (method != http::verb::post) return wrong_method(*session, target);
    if (refused(store::kScopeInfer)) return;
    return generation<CompletionRequest>(session, context, caller.tenant,
                                         parse_completion_request, plan_completion);
  }
  if (target == "/v1/chat/completions") {
    if (method != http::verb::post) return wrong_method(*session, target);
    if (refused(store::kScopeInfer)) return;
    return generation<ChatRequest>(session, context, caller.tenant, parse_chat_request,
                                   plan_chat);
  }
  constexpr std::string_view kJobs = "/v1/jobs/";
  if (target.substr(0, kJobs.size()) == kJobs)
    return jobs_route(session, context, target, target.substr(kJobs.size()), query, caller);
  session->respond_error(
      not_found("unknown_url",
                "no route for " + std::string(req.method_string()) + " " + std::string(target)));
}

}  // namespace rs::gateway
