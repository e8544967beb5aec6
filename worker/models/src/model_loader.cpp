#include "rs/worker/models/model_loader.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "rs/store/file_sha256.h"

namespace rs::worker::models {
namespace {

// A registry version's own chat template replaces the GGUF's.
engine::ModelOptions model_options(const store::ModelVersion& rec) {
  engine::ModelOptions options;
  if (!rec.chat_template.empty()) options.chat_template = rec.chat_template;
  return options;
}

}  // namespace

ModelLoader::ModelLoader(LoaderOptions options) : options_(std::move(options)) {}

ModelLoader::~ModelLoader() { stop(); }

void ModelLoader::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void ModelLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    requests_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ModelLoader::post(LoadRequest request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(request));
  }
  cv_.notify_all();
}

std::vector<LoadResult> ModelLoader::take_results() {
  std::vector<LoadResult> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(results_);
  return out;
}

void ModelLoader::run() {
  conn_ = std::make_unique<store::RedisConnection>(options_.redis);
  for (;;) {
    LoadRequest request;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !requests_.empty(); });
      if (stop_) break;
      request = std::move(requests_.front());
      requests_.pop_front();
    }
    if (request.kind == LoadKind::kReportError) {
      report(request.record, request.reason);
      continue;
    }
    LoadResult result = execute(request);
    if (!result.ok) report(request.record, result.error);
    {
      std::lock_guard<std::mutex> lock(mu_);
      results_.push_back(std::move(result));
    }
    if (options_.wake) options_.wake();
  }
  conn_.reset();
}

LoadResult ModelLoader::execute(const LoadRequest& request) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadResult r;
  r.kind = request.kind;
  r.key = request.key;
  const store::ModelVersion& rec = request.record;
  if (request.kind == LoadKind::kVerify) {
    auto sha = store::sha256_file(rec.path);
    if (!sha.ok()) {
      r.error = "cannot read " + rec.path + ": " + sha.status().to_string();
    } else if (*sha != rec.sha256) {
      r.error = "sha256 mismatch: " + rec.path + " has " + *sha + ", the registry has " + rec.sha256;
    } else if (auto probe = engine::Model::load(rec.path, model_options(rec)); !probe.ok()) {
      // Validated here too (the map is dropped at once), so a memory-constrained swap never
      // retires the old version for a file that will not load.
      r.error = "cannot load " + rec.path + ": " + probe.status().to_string();
    } else {
      r.ok = true;
    }
  } else {
    auto model = engine::Model::load(rec.path, model_options(rec));
    if (!model.ok()) {
      r.error = "cannot load " + rec.path + ": " + model.status().to_string();
    } else {
      r.model = std::move(model).value();
      r.ok = true;
    }
  }
  r.elapsed_us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
  return r;
}

void ModelLoader::report(const store::ModelVersion& record, const std::string& error) {
  spdlog::warn("model {}@{}: {}", record.name, record.version, error);
  store::ModelRegistry registry(*conn_, store::ModelRegistryOptions{.keys = options_.keys});
  Status s = registry.set_error(record.name, record.version, error);
  if (!s.ok()) {
    spdlog::warn("model {}@{}: set_error: {}", record.name, record.version, s.to_string());
  }
}

}  // namespace rs::worker::models
