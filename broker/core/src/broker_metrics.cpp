#include "rs/broker/broker_metrics.h"

#include <algorithm>
#include <cctype>

#include "rs/schemas/protocol.h"

namespace rs::broker {
namespace {

using metrics::Buckets;

std::string model_name_of(const std::string& ref) { return ref.substr(0, ref.find('@')); }

const char* priority_label(Priority p) { return p == Priority::kBatch ? "batch" : "interactive"; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The command byte of [header, command, body] (256: none).
int command_byte(const std::vector<std::string>& frames) {
  if (frames.size() != 3 || frames[1].size() != 1) return 256;
  return static_cast<uint8_t>(frames[1][0]);
}

std::string command_label(int byte) {
  if (byte > 255) return "invalid";
  auto c = schemas::parse_command(static_cast<uint8_t>(byte));
  return c ? lower(schemas::command_name(*c)) : "unknown";
}

}  // namespace

BrokerMetrics::BrokerMetrics(const BrokerCounters& counters)
    : accepted_(registry_.counter("ringserve_jobs_accepted_total", "Jobs accepted (stored)",
                                  {"model", "priority"})),
      rejected_(registry_.counter("ringserve_jobs_rejected_total",
                                  "SUBMITs answered REJECTED, by error code", {"code"})),
      ended_(registry_.counter("ringserve_jobs_ended_total", "Jobs that reached a final state",
                               {"model", "state"})),
      dispatch_latency_(registry_.histogram("ringserve_dispatch_latency_seconds",
                                            "Time a job attempt waited in the queue",
                                            metrics::latency_buckets(), {"priority"})),
      redispatches_(registry_.counter("ringserve_redispatches_total",
                                      "Attempts dispatched again (retry, worker lost)")
                        .with()),
      dead_letters_(
          registry_.counter("ringserve_dead_letters_total", "Jobs moved to the dead-letter list")
              .with()),
      malformed_(registry_.counter("ringserve_malformed_messages_total",
                                   "Peer input refused, by error code", {"code"})),
      auth_refused_(registry_.counter("ringserve_auth_refused_total",
                                      "Connections and messages refused by authentication",
                                      {"socket", "reason"})),
      allowed_keys_(registry_.gauge("ringserve_allowed_keys",
                                    "CURVE public keys on the socket's allow-list", {"socket"})),
      received_(registry_.counter("ringserve_messages_received_total",
                                  "Messages from clients and workers", {"command"})),
      sent_(registry_.counter("ringserve_messages_sent_total", "Messages to clients and workers",
                              {"command"})),
      turn_(registry_
                .histogram("ringserve_loop_turn_duration_seconds",
                           "A busy broker loop turn (poll excluded)", metrics::fast_buckets())
                .with()),
      redis_pipeline_(registry_
                          .histogram("ringserve_redis_pipeline_duration_seconds",
                                     "One Redis pipeline round trip (writes and reads)",
                                     metrics::fast_buckets())
                          .with()),
      queue_depth_(registry_.gauge("ringserve_queue_depth", "Jobs queued, not dispatched",
                                   {"model", "priority"})),
      queue_age_(registry_.gauge("ringserve_queue_oldest_age_seconds",
                                 "Age of the oldest queued job", {"model", "priority"})),
      workers_live_(registry_.gauge("ringserve_workers_live", "Workers registered").with()),
      devices_live_(registry_.gauge("ringserve_devices_live", "Devices serving each model",
                                    {"model"})),
      subscribers_(registry_.gauge("ringserve_subscribers",
                                   "Live streams (streaming submitters and subscribers)")
                       .with()),
      redis_up_(registry_.gauge("ringserve_redis_up", "1 while Redis answers the broker").with()) {
  redis_up_.set(1);
  metrics::Counter& submitted =
      registry_.counter("ringserve_jobs_submitted_total", "SUBMITs and ingest entries taken").with();
  metrics::Counter& adopted =
      registry_.counter("ringserve_jobs_adopted_total", "Jobs a re-registering worker carried on")
          .with();
  metrics::Counter& redis_errors =
      registry_.counter("ringserve_redis_errors_total", "Failed Redis round trips and error replies")
          .with();
  metrics::Gauge& held =
      registry_.gauge("ringserve_redis_held_commands", "Staged Redis writes not applied yet").with();
  metrics::Gauge& live = registry_.gauge("ringserve_live_jobs", "Jobs not ended").with();
  metrics::Counter& lagged =
      registry_.counter("ringserve_slow_subscriber_drops_total",
                        "Streams cut because the client fell behind (lagged)")
          .with();
  registry_.add_collector([&counters, &submitted, &adopted, &redis_errors, &held, &live, &lagged] {
    auto v = [](const std::atomic<uint64_t>& a) {
      return static_cast<double>(a.load(std::memory_order_relaxed));
    };
    submitted.set_total(v(counters.submitted));
    adopted.set_total(v(counters.adopted));
    redis_errors.set_total(v(counters.redis_errors));
    held.set(v(counters.held_commands));
    live.set(v(counters.live_jobs));
    lagged.set_total(v(counters.clients_lagged));
  });
  metrics::add_process_metrics(registry_, "broker");
}

void BrokerMetrics::accepted(const std::string& model, Priority priority) {
  accepted_.with({model_name_of(model), priority_label(priority)}).inc();
}

void BrokerMetrics::rejected(schemas::ErrorCode code) {
  rejected_.with({std::string(schemas::error_code_name(code))}).inc();
}

void BrokerMetrics::ended(const std::string& model, schemas::JobState state) {
  ended_.with({model_name_of(model), lower(schemas::job_state_name(state))}).inc();
}

void BrokerMetrics::dispatched(Priority priority, double queued_s, uint32_t attempt) {
  dispatch_latency_.with({priority_label(priority)}).observe(std::max(0.0, queued_s));
  if (attempt > 1) redispatches_.inc();
}

void BrokerMetrics::malformed(schemas::ErrorCode code) {
  malformed_.with({std::string(schemas::error_code_name(code))}).inc();
}

metrics::Counter& BrokerMetrics::counter_for(std::array<std::atomic<metrics::Counter*>, 256>& cache,
                                             metrics::Family<metrics::Counter>& family,
                                             uint8_t index, const std::string& label) {
  metrics::Counter* c = cache[index].load(std::memory_order_relaxed);
  if (c == nullptr) {
    c = &family.with({label});
    cache[index].store(c, std::memory_order_relaxed);
  }
  return *c;
}

void BrokerMetrics::received(const std::vector<std::string>& frames) {
  const int b = command_byte(frames);
  if (b > 255) return received_.with({"invalid"}).inc();
  counter_for(received_by_command_, received_, static_cast<uint8_t>(b), command_label(b)).inc();
}

void BrokerMetrics::sent(const std::vector<std::string>& frames) {
  const int b = command_byte(frames);
  if (b > 255) return sent_.with({"invalid"}).inc();
  counter_for(sent_by_command_, sent_, static_cast<uint8_t>(b), command_label(b)).inc();
}

void BrokerMetrics::publish_queues(const std::vector<QueueLane>& lanes) {
  // Several references of one name ("tiny", "tiny@2") add up under that name.
  std::map<std::pair<std::string, Priority>, std::pair<size_t, double>> now;
  for (const QueueLane& l : lanes) {
    auto& [depth, age] = now[{model_name_of(l.model), l.priority}];
    depth += l.depth;
    age = std::max(age, l.oldest_age_s);
  }
  for (const auto& lane : published_lanes_) {  // gone: back to 0
    if (now.count(lane) != 0) continue;
    queue_depth_.with({lane.first, priority_label(lane.second)}).set(0);
    queue_age_.with({lane.first, priority_label(lane.second)}).set(0);
  }
  published_lanes_.clear();
  for (const auto& [lane, value] : now) {
    const std::vector<std::string> labels{lane.first, priority_label(lane.second)};
    queue_depth_.with(labels).set(static_cast<double>(value.first));
    queue_age_.with(labels).set(value.second);
    published_lanes_.push_back(lane);
  }
}

void BrokerMetrics::publish_devices(size_t workers,
                                    const std::map<std::string, size_t>& devices_by_model) {
  workers_live_.set(static_cast<double>(workers));
  for (const std::string& model : published_models_) {
    if (devices_by_model.count(model) == 0) devices_live_.with({model}).set(0);
  }
  published_models_.clear();
  size_t total = 0;
  for (const auto& [model, n] : devices_by_model) {
    devices_live_.with({model}).set(static_cast<double>(n));
    published_models_.push_back(model);
    total += n;
  }
  devices_total_.store(total, std::memory_order_relaxed);
}

void BrokerMetrics::publish_redis_up(bool up) {
  redis_up_.set(up ? 1 : 0);
  redis_ok_.store(up, std::memory_order_relaxed);
}

metrics::Readiness BrokerMetrics::readiness() const {
  if (!redis_ok_.load(std::memory_order_relaxed)) {
    return {.ready = false, .reason = "redis_down", .detail = "redis does not answer the broker"};
  }
  if (devices_total_.load(std::memory_order_relaxed) == 0) {
    return {.ready = false, .reason = "no_devices", .detail = "no worker device serves a model"};
  }
  return {};
}

}  // namespace rs::broker
