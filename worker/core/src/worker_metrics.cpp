#include "rs/worker/worker_metrics.h"

#include <algorithm>

namespace rs::worker {
namespace {

std::string name_of(const std::string& key) { return key.substr(0, key.find('@')); }
std::string version_of(const std::string& key) {
  const size_t at = key.find('@');
  return at == std::string::npos ? std::string() : key.substr(at + 1);
}

}  // namespace

WorkerMetrics::WorkerMetrics(std::string worker_id, int n_devices)
    : worker_(std::move(worker_id)),
      running_(registry_.gauge("ringserve_sequences_running", "Sequences in the running batch",
                               {"worker", "device"})),
      waiting_(registry_.gauge("ringserve_sequences_waiting",
                               "Sequences waiting for a slot or KV blocks", {"worker", "device"})),
      kv_used_(registry_.gauge("ringserve_kv_blocks_used", "KV-cache blocks in use",
                               {"worker", "device"})),
      kv_total_(registry_.gauge("ringserve_kv_blocks_capacity", "KV-cache blocks in all",
                                {"worker", "device"})),
      cache_queries_(registry_.counter("ringserve_prefix_cache_queries_total",
                                       "Prompt tokens looked up in the prefix cache",
                                       {"worker", "device"})),
      cache_hits_(registry_.counter("ringserve_prefix_cache_hits_total",
                                    "Prompt tokens served from the prefix cache",
                                    {"worker", "device"})),
      preemptions_(registry_.counter("ringserve_preemptions_total", "Sequences preempted",
                                     {"worker", "device"})),
      engine_errors_(registry_.counter("ringserve_engine_errors_total",
                                       "Jobs failed by an engine error", {"worker", "device"})),
      step_(registry_.histogram("ringserve_engine_step_duration_seconds", "One engine step",
                                metrics::fast_buckets(), {"worker", "device"})),
      batch_seqs_(registry_.histogram("ringserve_batch_sequences", "Sequences per engine step",
                                      metrics::count_buckets(), {"worker", "device"})),
      batch_tokens_(registry_.histogram("ringserve_batch_tokens", "Tokens per engine step",
                                        metrics::count_buckets(), {"worker", "device"})),
      prompt_tokens_(registry_.counter("ringserve_prompt_tokens_total", "Prompt tokens prefilled",
                                       {"worker", "model"})),
      generation_tokens_(registry_.counter("ringserve_generation_tokens_total",
                                           "Tokens generated and streamed", {"worker", "model"})),
      ttft_(registry_.histogram("ringserve_time_to_first_token_seconds",
                                "DISPATCH received to the first token", metrics::latency_buckets(),
                                {"worker", "model"})),
      itl_(registry_.histogram("ringserve_inter_token_latency_seconds",
                               "Time between two tokens of one job", metrics::latency_buckets(),
                               {"worker", "model"})),
      e2e_(registry_.histogram("ringserve_e2e_request_latency_seconds",
                               "DISPATCH received to the job's end on this worker",
                               metrics::latency_buckets(), {"worker", "model"})),
      queue_(registry_.histogram("ringserve_request_queue_time_seconds",
                                 "DISPATCH received to first scheduled", metrics::latency_buckets(),
                                 {"worker", "model"})),
      finished_(registry_.counter("ringserve_requests_finished_total",
                                  "Attempts ended on this worker", {"worker", "model", "finish_reason"})),
      load_seconds_(registry_.gauge("ringserve_model_load_duration_seconds",
                                    "The last load of each model version held",
                                    {"worker", "model", "model_version"})),
      swaps_(registry_.counter("ringserve_model_swaps_total", "Changes of the versions served",
                               {"worker"})
                 .with({worker_})),
      linked_(registry_.gauge("ringserve_broker_linked",
                              "1 while the broker acknowledges this worker", {"worker"})
                  .with({worker_})) {
  for (int d = 0; d < n_devices; ++d) devices_.push_back(std::make_unique<DeviceMetrics>(*this, d));
  metrics::add_process_metrics(registry_, "worker");
}

void WorkerMetrics::model_loaded(const std::string& model_key, double seconds) {
  load_seconds_.with({worker_, name_of(model_key), version_of(model_key)}).set(seconds);
}

DeviceMetrics::DeviceMetrics(WorkerMetrics& w, int device)
    : worker_(w),
      device_(std::to_string(device)),
      running_(w.running_.with({w.worker_, device_})),
      waiting_(w.waiting_.with({w.worker_, device_})),
      kv_used_(w.kv_used_.with({w.worker_, device_})),
      kv_total_(w.kv_total_.with({w.worker_, device_})),
      cache_queries_(w.cache_queries_.with({w.worker_, device_})),
      cache_hits_(w.cache_hits_.with({w.worker_, device_})),
      preemptions_(w.preemptions_.with({w.worker_, device_})),
      engine_errors_(w.engine_errors_.with({w.worker_, device_})),
      step_(w.step_.with({w.worker_, device_})),
      batch_seqs_(w.batch_seqs_.with({w.worker_, device_})),
      batch_tokens_(w.batch_tokens_.with({w.worker_, device_})) {}

DeviceMetrics::ModelSeries& DeviceMetrics::model(const std::string& key) {
  auto it = models_.find(key);
  if (it != models_.end()) return it->second;
  const std::vector<std::string> labels{worker_.worker_, name_of(key)};
  ModelSeries s{&worker_.prompt_tokens_.with(labels), &worker_.generation_tokens_.with(labels),
                &worker_.ttft_.with(labels),          &worker_.itl_.with(labels),
                &worker_.e2e_.with(labels),           &worker_.queue_.with(labels)};
  return models_.emplace(key, s).first->second;
}

void DeviceMetrics::step(double seconds, int n_seqs, int n_tokens, int n_preempted) {
  step_.observe(seconds);
  batch_seqs_.observe(n_seqs);
  batch_tokens_.observe(n_tokens);
  if (n_preempted > 0) preemptions_.inc(n_preempted);
}

void DeviceMetrics::load(int running, int waiting, int kv_used, int kv_total) {
  running_.set(running);
  waiting_.set(waiting);
  kv_used_.set(std::max(0, kv_used));
  kv_total_.set(kv_total);
}

void DeviceMetrics::first_token(const std::string& model_key, double ttft_s) {
  ModelSeries& m = model(model_key);
  m.ttft->observe(ttft_s);
  m.generation_tokens->inc();
}

void DeviceMetrics::next_token(const std::string& model_key, double itl_s) {
  ModelSeries& m = model(model_key);
  m.itl->observe(itl_s);
  m.generation_tokens->inc();
}

void DeviceMetrics::finished(const std::string& model_key, engine::FinishReason reason,
                             const engine::Usage& usage, double e2e_s) {
  ModelSeries& m = model(model_key);
  m.e2e->observe(e2e_s);
  if (usage.queue_ms > 0 || usage.prompt_tokens > 0) m.queue->observe(usage.queue_ms / 1000.0);
  m.prompt_tokens->inc(usage.prompt_tokens);
  cache_queries_.inc(usage.prompt_tokens);
  cache_hits_.inc(usage.cached_prompt_tokens);
  worker_.finished_.with({worker_.worker_, name_of(model_key), engine::finish_reason_name(reason)}).inc();
  if (reason == engine::FinishReason::kError) engine_errors_.inc();
}

}  // namespace rs::worker
