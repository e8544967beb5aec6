#include "gateway_metrics.h"

namespace rs::gateway {

GatewayMetrics::GatewayMetrics(std::function<bool()> broker_up)
    : requests_(registry_.counter("ringserve_http_requests_total", "HTTP requests answered",
                                  {"route", "status"})),
      duration_(registry_.histogram("ringserve_http_request_duration_seconds",
                                    "Request received to response done (a stream: its end)",
                                    metrics::latency_buckets(), {"route"})),
      streams_(registry_.gauge("ringserve_http_active_streams", "SSE streams open").with()),
      resumes_(registry_.counter("ringserve_http_stream_resumes_total",
                                 "Streams resumed (Last-Event-ID, /v1/jobs/{id}/events)")
                   .with()),
      disconnect_cancels_(registry_.counter("ringserve_http_disconnect_cancels_total",
                                            "Jobs cancelled because their client went away")
                              .with()),
      auth_failures_(
          registry_.counter("ringserve_http_auth_failures_total", "Requests refused 401").with()),
      tls_handshake_failures_(registry_
                                  .counter("ringserve_http_tls_handshake_failures_total",
                                           "TLS handshakes that failed or timed out (e.g. plain "
                                           "HTTP sent to the TLS port)")
                                  .with()) {
  metrics::Gauge& up = registry_.gauge("ringserve_broker_up", "1 while the broker answers").with();
  registry_.add_collector([&up, broker_up = std::move(broker_up)] { up.set(broker_up() ? 1 : 0); });
  metrics::add_process_metrics(registry_, "gateway");
}

void GatewayMetrics::request_done(std::string_view route, int status, double seconds) {
  requests_.with({std::string(route), std::to_string(status)}).inc();
  duration_.with({std::string(route)}).observe(seconds);
}

std::string_view route_label(std::string_view target) {
  target = target.substr(0, target.find('?'));
  for (std::string_view exact : {"/v1/completions", "/v1/chat/completions", "/v1/models",
                                 "/v1/admin/workers", "/health"}) {
    if (target == exact) return exact;
  }
  constexpr std::string_view kJobs = "/v1/jobs/";
  if (target.substr(0, kJobs.size()) == kJobs) {
    std::string_view rest = target.substr(kJobs.size());
    constexpr std::string_view kEvents = "/events";
    if (rest.size() > kEvents.size() && rest.substr(rest.size() - kEvents.size()) == kEvents) {
      return "/v1/jobs/{id}/events";
    }
    return "/v1/jobs/{id}";
  }
  return "other";
}

}  // namespace rs::gateway
