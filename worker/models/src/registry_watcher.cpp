#include "rs/worker/models/registry_watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "redis_subscriber.h"
#include "rs/schemas/model_ref.h"

namespace rs::worker::models {
namespace {

constexpr int kSliceMs = 100;           // bounds how late stop() is seen
constexpr int kResubscribeMs = 1000;    // between subscriber reconnect attempts

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RegistryWatcher::RegistryWatcher(WatcherOptions options) : options_(std::move(options)) {}

RegistryWatcher::~RegistryWatcher() { stop(); }

void RegistryWatcher::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void RegistryWatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<WantedSet> RegistryWatcher::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<WantedSet> out = std::move(mailbox_);
  mailbox_.reset();
  return out;
}

void RegistryWatcher::sleep_for_ms(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
}

// Subscribe first, then read: an event published in between is seen either way.
void RegistryWatcher::run() {
  store::RedisConnection conn(options_.redis);
  store::ModelRegistry registry(conn, store::ModelRegistryOptions{.keys = options_.keys});
  RedisSubscriber sub;
  const std::string channel = options_.keys.models_channel();
  const int poll_ms = std::max(options_.poll_ms, 1);
  int64_t next_sub_ms = 0;
  int64_t next_poll_ms = 0;
  while (!stop_.load()) {
    bool check = false;
    if (options_.subscribe && !sub.connected() && now_ms() >= next_sub_ms) {
      Status s = sub.connect(options_.redis, channel, options_.redis.connect_timeout_ms);
      if (s.code() == StatusCode::kPermissionDenied) {
        spdlog::warn("registry watcher: {}", s.to_string());
      } else if (!s.ok()) {
        spdlog::debug("registry watcher: {}", s.to_string());
      }
      next_sub_ms = now_ms() + kResubscribeMs;
      check = s.ok();  // (re)subscribed: events may have been missed meanwhile
    }
    const int wait_ms = static_cast<int>(std::clamp<int64_t>(next_poll_ms - now_ms(), 0, kSliceMs));
    if (sub.connected()) {
      auto got = sub.wait(wait_ms);
      if (!got.ok()) {
        spdlog::warn("registry watcher: {}", got.status().to_string());
        check = true;
      } else if (*got) {
        n_events_.fetch_add(1, std::memory_order_relaxed);
        check = true;
      }
    } else if (wait_ms > 0) {
      sleep_for_ms(wait_ms);
    }
    if (check || now_ms() >= next_poll_ms) {
      refresh(registry);
      next_poll_ms = now_ms() + poll_ms;
    }
  }
}

bool RegistryWatcher::serves(const std::string& name) const {
  return options_.serve.empty() ||
         std::find(options_.serve.begin(), options_.serve.end(), name) != options_.serve.end();
}

// Reads the wanted set when the epoch moved; false (tried again at the next poll) when a
// read fails.
bool RegistryWatcher::refresh(store::ModelRegistry& registry) {
  auto epoch = registry.epoch();
  if (!epoch.ok()) {
    spdlog::warn("registry watcher: epoch: {}", epoch.status().to_string());
    return false;
  }
  if (last_epoch_ && *last_epoch_ == *epoch) return true;
  auto routing = registry.routing_all();
  if (!routing.ok()) {
    spdlog::warn("registry watcher: routing: {}", routing.status().to_string());
    return false;
  }
  WantedSet wanted;
  wanted.epoch = *epoch;
  for (const store::ModelRouting& r : *routing) {
    if (!serves(r.name)) continue;
    for (uint32_t version : {r.active, r.canary}) {
      if (version == 0) continue;
      auto record = registry.get(r.name, version);
      if (!record.ok()) {
        spdlog::warn("registry watcher: {}@{}: {}", r.name, version, record.status().to_string());
        return false;
      }
      wanted.models[schemas::model_key(r.name, version)] = std::move(record).value();
    }
  }
  last_epoch_ = *epoch;
  n_refreshes_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    mailbox_ = std::move(wanted);
  }
  if (options_.wake) options_.wake();
  return true;
}

}  // namespace rs::worker::models
