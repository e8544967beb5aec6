// `ringserve top`'s core (client/cli/top_view.h) on hand-written exposition texts of two
// scrape rounds: rates, quantiles from bucket deltas, restarted counters, devices, queues,
// errors, health, the JSON fields and the text layout; the endpoint list; and its HTTP
// client (top_http.h) against an in-process MetricsServer.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "rs/metrics/metrics.h"
#include "rs/metrics/metrics_server.h"
#include "top_http.h"
#include "top_view.h"

namespace rs::cli {
namespace {

// A reachable endpoint that answered `text` on /metrics and `ready_status` on /readyz.
EndpointScrape top_endpoint_text(const std::string& name, const std::string& text, int ready_status = 200) {
  EndpointScrape e;
  e.name = name;
  e.url = "http://127.0.0.1:1/" + name;
  auto samples = metrics::parse_text(text);
  EXPECT_TRUE(samples.ok()) << samples.status().to_string();
  if (samples.ok()) e.samples = *samples;
  e.reachable = samples.ok();
  e.ready_status = ready_status;
  return e;
}

EndpointScrape top_endpoint_down(const std::string& name) {
  EndpointScrape e;
  e.name = name;
  e.url = "http://127.0.0.1:1/" + name;
  e.error = "connect: Connection refused";
  return e;
}

// The TTFT histogram (bounds 0.1, 0.2) of worker `w`, model `m`, with cumulative counts.
std::string top_ttft_text(const std::string& w, const std::string& m, int le01, int le02, int inf) {
  const std::string l = "worker=\"" + w + "\",model=\"" + m + "\"";
  return "ringserve_time_to_first_token_seconds_bucket{" + l + ",le=\"0.1\"} " + std::to_string(le01) + "\n" +
         "ringserve_time_to_first_token_seconds_bucket{" + l + ",le=\"0.2\"} " + std::to_string(le02) + "\n" +
         "ringserve_time_to_first_token_seconds_bucket{" + l + ",le=\"+Inf\"} " + std::to_string(inf) + "\n" +
         "ringserve_time_to_first_token_seconds_count{" + l + "} " + std::to_string(inf) + "\n";
}

const TopModel* top_model_named(const TopSnapshot& s, const std::string& name) {
  for (const TopModel& m : s.models) {
    if (m.model == name) return &m;
  }
  return nullptr;
}

TEST(TopView, RatesAreCounterDeltasOverTheWindow) {
  const std::string t0 =
      "# TYPE ringserve_generation_tokens_total counter\n"
      "ringserve_generation_tokens_total{worker=\"w1\",model=\"m\"} 100\n"
      "ringserve_prompt_tokens_total{worker=\"w1\",model=\"m\"} 50\n";
  const std::string t1 =
      "ringserve_generation_tokens_total{worker=\"w1\",model=\"m\"} 300\n"
      "ringserve_prompt_tokens_total{worker=\"w1\",model=\"m\"} 90\n";
  const std::string b0 =
      "ringserve_jobs_accepted_total{model=\"m\",priority=\"interactive\"} 5\n"
      "ringserve_jobs_accepted_total{model=\"m\",priority=\"batch\"} 1\n"
      "ringserve_jobs_ended_total{model=\"m\",state=\"succeeded\"} 4\n";
  const std::string b1 =
      "ringserve_jobs_accepted_total{model=\"m\",priority=\"interactive\"} 9\n"
      "ringserve_jobs_accepted_total{model=\"m\",priority=\"batch\"} 3\n"
      "ringserve_jobs_ended_total{model=\"m\",state=\"succeeded\"} 8\n"
      "ringserve_jobs_ended_total{model=\"m\",state=\"failed\"} 2\n";
  const TopSnapshot s = compute_top({top_endpoint_text("broker", b0), top_endpoint_text("worker-1", t0)},
                                    {top_endpoint_text("broker", b1), top_endpoint_text("worker-1", t1)}, 2.0);
  ASSERT_EQ(s.models.size(), 1u);
  const TopModel& m = s.models[0];
  EXPECT_EQ(m.model, "m");
  EXPECT_DOUBLE_EQ(m.generation_tokens.total, 300);
  EXPECT_DOUBLE_EQ(m.generation_tokens.delta, 200);
  EXPECT_DOUBLE_EQ(m.generation_tokens.per_s, 100);
  EXPECT_DOUBLE_EQ(m.prompt_tokens.per_s, 20);
  EXPECT_DOUBLE_EQ(m.jobs_accepted.total, 12);
  EXPECT_DOUBLE_EQ(m.jobs_accepted.per_s, 3);  // (4 + 2) / 2 s
  EXPECT_DOUBLE_EQ(m.jobs_ended.delta, 6);     // +4 succeeded, +2 failed (a new series)
  EXPECT_DOUBLE_EQ(s.jobs_accepted.per_s, 3);
  EXPECT_DOUBLE_EQ(s.jobs_ended_by_state.at("failed").delta, 2);
  EXPECT_DOUBLE_EQ(s.jobs_ended_by_state.at("succeeded").total, 8);
  EXPECT_DOUBLE_EQ(s.seconds, 2.0);
}

TEST(TopView, QuantilesComeFromTheBucketDeltasElseFromTheTotals) {
  const std::string itl =
      "ringserve_inter_token_latency_seconds_bucket{worker=\"w1\",model=\"m\",le=\"0.01\"} 4\n"
      "ringserve_inter_token_latency_seconds_bucket{worker=\"w1\",model=\"m\",le=\"0.02\"} 8\n"
      "ringserve_inter_token_latency_seconds_bucket{worker=\"w1\",model=\"m\",le=\"+Inf\"} 8\n";
  // TTFT: 10 fast ones before the window; 10 between 0.1 and 0.2 s in it. ITL: nothing new.
  const TopSnapshot s = compute_top({top_endpoint_text("worker-1", top_ttft_text("w1", "m", 10, 10, 10) + itl)},
                                    {top_endpoint_text("worker-1", top_ttft_text("w1", "m", 10, 20, 20) + itl)}, 1.0);
  const TopModel* m = top_model_named(s, "m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->ttft.source, "window");
  EXPECT_DOUBLE_EQ(m->ttft.observations, 10);
  ASSERT_TRUE(m->ttft.p50 && m->ttft.p90 && m->ttft.p99);
  EXPECT_NEAR(*m->ttft.p50, 0.15, 1e-12);  // the totals would say 0.1
  EXPECT_NEAR(*m->ttft.p90, 0.19, 1e-12);
  EXPECT_NEAR(*m->ttft.p99, 0.199, 1e-12);
  EXPECT_EQ(m->itl.source, "total");
  EXPECT_DOUBLE_EQ(m->itl.observations, 8);
  ASSERT_TRUE(m->itl.p50.has_value());
  EXPECT_NEAR(*m->itl.p50, 0.01, 1e-12);
  EXPECT_NEAR(*m->itl.p99, 0.01 + 0.01 * (7.92 - 4) / 4, 1e-12);

  // Two workers' buckets add up (sum by le), as PromQL's sum by (le).
  const TopSnapshot two = compute_top(
      {top_endpoint_text("worker-1", top_ttft_text("w1", "m", 0, 0, 0)),
       top_endpoint_text("worker-2", top_ttft_text("w2", "m", 0, 0, 0))},
      {top_endpoint_text("worker-1", top_ttft_text("w1", "m", 10, 10, 10)),
       top_endpoint_text("worker-2", top_ttft_text("w2", "m", 0, 10, 10))},
      1.0);
  ASSERT_EQ(two.models.size(), 1u);
  EXPECT_DOUBLE_EQ(two.models[0].ttft.observations, 20);
  EXPECT_NEAR(*two.models[0].ttft.p50, 0.1, 1e-12);
  EXPECT_NEAR(*two.models[0].ttft.p90, 0.18, 1e-12);
}

TEST(TopView, NoObservationsAtAllLeaveTheQuantilesEmpty) {
  const std::string zero = top_ttft_text("w1", "m", 0, 0, 0);
  const TopSnapshot s = compute_top({top_endpoint_text("worker-1", zero)}, {top_endpoint_text("worker-1", zero)}, 1);
  ASSERT_EQ(s.models.size(), 1u);
  EXPECT_EQ(s.models[0].ttft.source, "none");
  EXPECT_FALSE(s.models[0].ttft.p50.has_value());
  EXPECT_EQ(s.models[0].itl.source, "none");
}

TEST(TopView, ARestartedProcessCountsItsNewValues) {
  auto gen = [](const std::string& w, int v) {
    return "ringserve_generation_tokens_total{worker=\"" + w + "\",model=\"m\"} " + std::to_string(v) + "\n";
  };
  auto started = [](int t) { return "process_start_time_seconds " + std::to_string(t) + "\n"; };
  const ScrapeRound t0{
      // worker-1: its counter goes down (restarted between the rounds).
      top_endpoint_text("worker-1", gen("w1", 500) + top_ttft_text("w1", "m", 100, 100, 100)),
      // worker-2: the counter went up, but the process started again (a new start time).
      top_endpoint_text("worker-2", started(1000) + gen("w2", 10)),
      // worker-3: not reachable at t0: no baseline, no delta.
      top_endpoint_down("worker-3"),
      // broker: rejected{queue_full} appears only at t1 (a labelled counter's first event).
      top_endpoint_text("broker", "ringserve_jobs_rejected_total{code=\"too_long\"} 1\n")};
  const ScrapeRound t1{
      top_endpoint_text("worker-1", gen("w1", 40) + top_ttft_text("w1", "m", 2, 4, 4)),
      top_endpoint_text("worker-2", started(2000) + gen("w2", 30)),
      top_endpoint_text("worker-3", gen("w3", 70)),
      top_endpoint_text("broker", "ringserve_jobs_rejected_total{code=\"too_long\"} 1\n"
                                  "ringserve_jobs_rejected_total{code=\"queue_full\"} 3\n")};
  const TopSnapshot s = compute_top(t0, t1, 2.0);
  const TopModel* m = top_model_named(s, "m");
  ASSERT_NE(m, nullptr);
  EXPECT_DOUBLE_EQ(m->generation_tokens.total, 140);
  EXPECT_DOUBLE_EQ(m->generation_tokens.delta, 40 + 30 + 0);
  EXPECT_DOUBLE_EQ(m->generation_tokens.per_s, 35);
  // The histogram went down too: its new buckets are the window's.
  EXPECT_EQ(m->ttft.source, "window");
  EXPECT_DOUBLE_EQ(m->ttft.observations, 4);
  EXPECT_NEAR(*m->ttft.p50, 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(s.errors.rejected.total, 4);
  EXPECT_DOUBLE_EQ(s.errors.rejected.delta, 3);
  EXPECT_DOUBLE_EQ(s.errors.rejected_by_code.at("queue_full").delta, 3);
  EXPECT_DOUBLE_EQ(s.errors.rejected_by_code.at("too_long").delta, 0);
  // No delta is ever negative.
  EXPECT_GE(s.errors.rejected.delta, 0);
}

TEST(TopView, DevicesQueuesErrorsPoolAndHealth) {
  const std::string w0 =
      "ringserve_prefix_cache_queries_total{worker=\"w1\",device=\"0\"} 100\n"
      "ringserve_prefix_cache_hits_total{worker=\"w1\",device=\"0\"} 10\n"
      "ringserve_engine_errors_total{worker=\"w1\",device=\"0\"} 1\n";
  const std::string w1 =
      "ringserve_sequences_running{worker=\"w1\",device=\"0\"} 3\n"
      "ringserve_sequences_waiting{worker=\"w1\",device=\"0\"} 1\n"
      "ringserve_kv_blocks_used{worker=\"w1\",device=\"0\"} 128\n"
      "ringserve_kv_blocks_capacity{worker=\"w1\",device=\"0\"} 512\n"
      "ringserve_prefix_cache_queries_total{worker=\"w1\",device=\"0\"} 200\n"
      "ringserve_prefix_cache_hits_total{worker=\"w1\",device=\"0\"} 60\n"
      "ringserve_engine_errors_total{worker=\"w1\",device=\"0\"} 2\n"
      "ringserve_sequences_running{worker=\"w1\",device=\"10\"} 0\n"
      "ringserve_sequences_running{worker=\"w1\",device=\"2\"} 1\n"
      "ringserve_prefix_cache_queries_total{worker=\"w1\",device=\"2\"} 40\n"
      "ringserve_prefix_cache_hits_total{worker=\"w1\",device=\"2\"} 10\n";
  const std::string b0 =
      "ringserve_malformed_messages_total{code=\"bad_frame\"} 1\n"
      "ringserve_redis_errors_total 0\n"
      "ringserve_slow_subscriber_drops_total 2\n"
      "ringserve_dead_letters_total 0\n";
  const std::string b1 =
      "ringserve_queue_depth{model=\"m\",priority=\"interactive\"} 4\n"
      "ringserve_queue_oldest_age_seconds{model=\"m\",priority=\"interactive\"} 1.5\n"
      "ringserve_queue_depth{model=\"m\",priority=\"batch\"} 0\n"
      "ringserve_malformed_messages_total{code=\"bad_frame\"} 3\n"
      "ringserve_redis_errors_total 1\n"
      "ringserve_slow_subscriber_drops_total 2\n"
      "ringserve_dead_letters_total 1\n"
      "ringserve_workers_live 1\n"
      "ringserve_redis_up 1\n";
  EndpointScrape gateway = top_endpoint_text("gateway", "ringserve_broker_up 0\n");
  apply_readyz(gateway, 503, R"({"ready":false,"reason":"broker_unreachable","detail":"no PONG for 5 s"})");
  const TopSnapshot s = compute_top(
      {top_endpoint_text("broker", b0), top_endpoint_text("worker-1", w0), top_endpoint_down("gateway")},
      {top_endpoint_text("broker", b1), top_endpoint_text("worker-1", w1), gateway, top_endpoint_down("worker-9")},
      1.0);
  ASSERT_EQ(s.devices.size(), 3u);
  EXPECT_EQ(s.devices[0].device, "0");
  EXPECT_EQ(s.devices[1].device, "2");  // by number
  EXPECT_EQ(s.devices[2].device, "10");
  const TopDevice& d = s.devices[0];
  EXPECT_EQ(d.worker, "w1");
  EXPECT_DOUBLE_EQ(d.running, 3);
  EXPECT_DOUBLE_EQ(d.waiting, 1);
  EXPECT_DOUBLE_EQ(d.kv_used, 128);
  EXPECT_DOUBLE_EQ(d.kv_capacity, 512);
  EXPECT_DOUBLE_EQ(*d.kv_percent, 25);
  EXPECT_DOUBLE_EQ(*d.prefix_hit_rate, 0.5);  // 50 of 100 in the window
  EXPECT_EQ(d.prefix_hit_source, "window");
  EXPECT_DOUBLE_EQ(d.engine_errors.total, 2);
  EXPECT_DOUBLE_EQ(d.engine_errors.delta, 1);
  EXPECT_DOUBLE_EQ(*s.devices[1].prefix_hit_rate, 0.25);  // new series: all of it is the window's
  EXPECT_FALSE(s.devices[2].prefix_hit_rate.has_value());
  EXPECT_FALSE(s.devices[2].kv_percent.has_value());

  ASSERT_EQ(s.queues.size(), 2u);
  EXPECT_EQ(s.queues[0].priority, "batch");
  EXPECT_EQ(s.queues[1].priority, "interactive");
  EXPECT_DOUBLE_EQ(s.queues[1].depth, 4);
  EXPECT_DOUBLE_EQ(s.queues[1].oldest_age_s, 1.5);

  EXPECT_DOUBLE_EQ(s.errors.engine.delta, 1);
  EXPECT_DOUBLE_EQ(s.errors.malformed_messages.total, 3);
  EXPECT_DOUBLE_EQ(s.errors.malformed_messages.delta, 2);
  EXPECT_DOUBLE_EQ(s.errors.redis.delta, 1);
  EXPECT_DOUBLE_EQ(s.errors.slow_subscriber_drops.total, 2);
  EXPECT_DOUBLE_EQ(s.errors.slow_subscriber_drops.delta, 0);
  EXPECT_DOUBLE_EQ(s.errors.dead_letters.delta, 1);

  EXPECT_EQ(s.pool.workers_live, 1);
  EXPECT_EQ(s.pool.redis_up, 1);
  EXPECT_EQ(s.pool.broker_up, 0);
  EXPECT_FALSE(s.pool.active_streams.has_value());

  ASSERT_EQ(s.endpoints.size(), 4u);
  EXPECT_TRUE(s.endpoints[0].reachable);
  EXPECT_EQ(s.endpoints[0].ready, true);
  EXPECT_EQ(s.endpoints[2].name, "gateway");
  EXPECT_EQ(s.endpoints[2].ready, false);
  EXPECT_EQ(s.endpoints[2].ready_status, 503);
  EXPECT_EQ(s.endpoints[2].reason, "broker_unreachable");
  EXPECT_EQ(s.endpoints[2].detail, "no PONG for 5 s");
  EXPECT_FALSE(s.endpoints[3].reachable);
  EXPECT_FALSE(s.endpoints[3].ready.has_value());
  EXPECT_EQ(s.endpoints[3].error, "connect: Connection refused");
}

TEST(TopView, JsonHasTheDocumentedFields) {
  const std::string t1 = top_ttft_text("w1", "m", 1, 2, 2) +
                         "ringserve_generation_tokens_total{worker=\"w1\",model=\"m\"} 16\n"
                         "ringserve_kv_blocks_capacity{worker=\"w1\",device=\"0\"} 0\n";
  const TopSnapshot s = compute_top({top_endpoint_text("worker-1", t1)},
                                    {top_endpoint_text("worker-1", t1), top_endpoint_down("broker")}, 1.5);
  const nlohmann::json j = to_json(s);
  EXPECT_EQ(j["window_s"], 1.5);
  for (const char* key : {"endpoints", "pool", "devices", "queues", "models", "jobs", "errors"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  const auto& e = j["endpoints"][1];
  for (const char* key : {"name", "url", "reachable", "error", "ready", "ready_status", "reason", "detail"}) {
    EXPECT_TRUE(e.contains(key)) << key;
  }
  EXPECT_EQ(e["name"], "broker");
  EXPECT_EQ(e["reachable"], false);
  EXPECT_TRUE(e["ready"].is_null());
  EXPECT_EQ(j["endpoints"][0]["ready"], true);
  const auto& d = j["devices"][0];
  for (const char* key : {"worker", "device", "running", "waiting", "kv_used", "kv_capacity", "kv_percent",
                          "prefix_hit_rate", "prefix_hit_source", "engine_errors", "preemptions"}) {
    EXPECT_TRUE(d.contains(key)) << key;
  }
  EXPECT_TRUE(d["kv_percent"].is_null());  // capacity 0
  const auto& m = j["models"][0];
  EXPECT_EQ(m["model"], "m");
  EXPECT_EQ(m["generation_tokens"]["total"], 16);
  EXPECT_EQ(m["generation_tokens"]["delta"], 0);
  EXPECT_EQ(m["generation_tokens"]["per_s"], 0);
  for (const char* key : {"prompt_tokens", "jobs_accepted", "jobs_ended"}) {
    EXPECT_TRUE(m[key].contains("total") && m[key].contains("delta") && m[key].contains("per_s")) << key;
  }
  EXPECT_EQ(m["ttft"]["source"], "total");
  EXPECT_EQ(m["ttft"]["observations"], 2);
  EXPECT_NEAR(m["ttft"]["p50"].get<double>(), 0.1, 1e-12);
  EXPECT_TRUE(m["ttft"].contains("p90") && m["ttft"].contains("p99"));
  EXPECT_EQ(m["itl"]["source"], "none");
  EXPECT_TRUE(m["itl"]["p50"].is_null());
  for (const char* key : {"workers_live", "live_jobs", "redis_up", "broker_up", "active_streams"}) {
    EXPECT_TRUE(j["pool"].contains(key)) << key;
  }
  for (const char* key : {"accepted", "ended", "ended_by_state"}) EXPECT_TRUE(j["jobs"].contains(key)) << key;
  for (const char* key : {"rejected", "rejected_by_code", "engine", "malformed_messages", "redis",
                          "slow_subscriber_drops", "dead_letters"}) {
    EXPECT_TRUE(j["errors"].contains(key)) << key;
  }
}

TEST(TopRender, NeverWiderThanTheWidthAndNoControlCharacters) {
  const std::string t = top_ttft_text("w\x1b[31mred", "a-model-with-a-rather-long-name-indeed-yes", 1, 2, 2) +
                        "ringserve_sequences_running{worker=\"w\x1b[31mred\",device=\"0\"} 1\n"
                        "ringserve_queue_depth{model=\"m\",priority=\"interactive\"} 2\n";
  EndpointScrape broker = top_endpoint_text("broker", "ringserve_workers_live 1\n");
  apply_readyz(broker, 503, R"({"ready":false,"reason":"redis_down","detail":"connection refused"})");
  const TopSnapshot s = compute_top({}, {top_endpoint_text("worker-1", t), broker, top_endpoint_down("gateway")}, 1);
  for (int width : {20, 40, 80, 200}) {
    const std::string text = render_text(s, width);
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      ASSERT_NE(end, std::string::npos);
      EXPECT_LE(end - start, static_cast<size_t>(width)) << text.substr(start, end - start);
      start = end + 1;
    }
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << "an escape sequence from a label reached the terminal";
  }
  const std::string wide = render_text(s, 200);
  EXPECT_NE(wide.find("w?[31mred"), std::string::npos) << wide;
  EXPECT_NE(wide.find("NOT READY"), std::string::npos) << wide;
  EXPECT_NE(wide.find("redis_down: connection refused"), std::string::npos) << wide;
  EXPECT_NE(wide.find("DOWN"), std::string::npos) << wide;
  EXPECT_NE(wide.find("* no new observations"), std::string::npos) << wide;
  EXPECT_NE(wide.find("interactive"), std::string::npos) << wide;
  EXPECT_NE(wide.find("dead letters"), std::string::npos) << wide;
}

TEST(TopEndpoints, ParsesTheMetricsFileAndArguments) {
  auto list = parse_metrics_file("broker http://127.0.0.1:41234\n\n# comment\n  worker-1\thttp://127.0.0.1:41240  \n"
                                 "gateway http://127.0.0.1:41250");
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].name, "worker-1");
  EXPECT_EQ((*list)[1].url, "http://127.0.0.1:41240");
  EXPECT_EQ((*list)[2].url, "http://127.0.0.1:41250");
  EXPECT_TRUE(parse_metrics_file("")->empty());
  EXPECT_EQ(parse_metrics_file("a http://x\nb\n").status().message(), "line 2: want `NAME URL`");
  EXPECT_NE(parse_metrics_file("a http://x\na http://y\n").status().message().find("line 2: endpoint a listed twice"),
            std::string::npos);
  EXPECT_NE(parse_metrics_file("a ftp://x\n").status().message().find("want an http:// URL"), std::string::npos);
  auto arg = parse_metrics_arg("w=http://10.0.0.1:9100/metrics");
  ASSERT_TRUE(arg.ok());
  EXPECT_EQ(arg->name, "w");
  EXPECT_EQ(arg->url, "http://10.0.0.1:9100/metrics");
  EXPECT_FALSE(parse_metrics_arg("http://x").ok());
  EXPECT_FALSE(parse_metrics_arg("=http://x").ok());
  EXPECT_FALSE(parse_metrics_arg("a b=http://x").ok());
}

TEST(TopEndpoints, ReadyzBodies) {
  EndpointScrape e;
  apply_readyz(e, 503, R"({"ready":false,"reason":"no_model","detail":"loading"})");
  EXPECT_EQ(e.ready_status, 503);
  EXPECT_EQ(e.ready_reason, "no_model");
  EXPECT_EQ(e.ready_detail, "loading");
  apply_readyz(e, 200, R"({"ready":true})");
  EXPECT_EQ(e.ready_status, 200);
  EXPECT_EQ(e.ready_reason, "");
  apply_readyz(e, 503, "not json");
  EXPECT_EQ(e.ready_reason, "");
  apply_readyz(e, 503, R"({"reason":7})");
  EXPECT_EQ(e.ready_reason, "");
}

TEST(TopHttp, ParsesUrls) {
  auto u = parse_http_url("http://127.0.0.1:9100");
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9100");
  EXPECT_EQ(u->base_path, "");
  u = parse_http_url("http://localhost/metrics");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->base_path, "");
  u = parse_http_url("http://[::1]:8080/pool/w1/metrics/");
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->base_path, "/pool/w1");
  for (const char* bad : {"https://x", "http://", "http://:80", "http://h:0", "http://h:70000", "http://h:abc",
                          "http://u@h:1", "http://[::1", "http://h/x?y"}) {
    EXPECT_FALSE(parse_http_url(bad).ok()) << bad;
  }
}

TEST(TopHttp, ParsesResponses) {
  auto r = parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  r = parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->body, "hello world");
  r = parse_http_response("HTTP/1.0 503 Service Unavailable\r\n\r\nuntil the end");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "until the end");
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort").ok());
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel").ok());
  EXPECT_FALSE(parse_http_response("SSH-2.0-OpenSSH\r\n\r\n").ok());
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\n").ok());
}

TEST(TopHttp, ScrapesAMetricsServer) {
  metrics::Registry registry;
  registry.counter("ringserve_generation_tokens_total", "Tokens", {"worker", "model"}).with({"w1", "m"}).inc(16);
  auto server = metrics::MetricsServer::start({}, registry, [] {
    return metrics::Readiness{.ready = false, .reason = "no_model", .detail = "none loaded"};
  });
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  auto url = parse_http_url("http://127.0.0.1:" + std::to_string((*server)->port()));
  ASSERT_TRUE(url.ok());
  auto m = http_get(*url, "/metrics", {});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->status, 200);
  auto samples = metrics::parse_text(m->body);
  ASSERT_TRUE(samples.ok()) << samples.status().to_string();
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_EQ((*samples)[0].value, 16);
  auto ready = http_get(*url, "/readyz", {});
  ASSERT_TRUE(ready.ok()) << ready.status().to_string();
  EndpointScrape e;
  apply_readyz(e, ready->status, ready->body);
  EXPECT_EQ(e.ready_status, 503);
  EXPECT_EQ(e.ready_reason, "no_model");
  // A body over the bound is refused.
  auto small = http_get(*url, "/metrics", {.timeout_ms = 2000, .max_bytes = 16});
  EXPECT_EQ(small.status().code(), StatusCode::kResourceExhausted) << small.status().to_string();
}

TEST(TopHttp, RefusedSilentAndCancelledEndpointsAreErrorsNotHangs) {
  // A port bound and listening, never accepting: connect succeeds, no answer comes.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  auto silent = http_get(HttpUrl{"127.0.0.1", port, ""}, "/metrics", {.timeout_ms = 200});
  EXPECT_EQ(silent.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(silent.status().message().find("timed out after 200 ms"), std::string::npos) << silent.status().to_string();
  std::atomic<bool> stop{true};
  auto cancelled = http_get(HttpUrl{"127.0.0.1", port, ""}, "/metrics", {.timeout_ms = 5000, .stop = &stop});
  EXPECT_EQ(cancelled.status().code(), StatusCode::kCancelled);
  ::close(fd);
  // Closed now: refused.
  auto refused = http_get(HttpUrl{"127.0.0.1", port, ""}, "/metrics", {.timeout_ms = 2000});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("refused"), std::string::npos) << refused.status().to_string();
}

}  // namespace
}  // namespace rs::cli
