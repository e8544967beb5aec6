// KeyCache: version-polled copy of the API key table.
#include "key_cache.h"

#include <spdlog/spdlog.h>

namespace rs::gateway {

Status KeyCache::start() {
  RS_RETURN_IF_ERROR(refresh());
  thread_ = std::thread([this] { run(); });
  return Status();
}

void KeyCache::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status KeyCache::refresh() {
  RS_ASSIGN_OR_RETURN(uint64_t version, source_.version());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version_ && *version_ == version && table_) return Status();
  }
  RS_ASSIGN_OR_RETURN(KeyTable table, source_.load());
  auto shared = std::make_shared<const KeyTable>(std::move(table));
  std::lock_guard<std::mutex> lock(mu_);
  table_ = std::move(shared);
  version_ = version;
  return Status();
}

void KeyCache::run() {
  bool failing = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(poll_ms_), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    Status s = refresh();
    if (!s.ok() && !failing) spdlog::warn("gateway: API keys not refreshed: {}", s.to_string());
    if (s.ok() && failing) spdlog::info("gateway: API keys refreshed again");
    failing = !s.ok();
    lock.lock();
  }
}

std::optional<store::ApiKeyGrant> KeyCache::grant_of(std::string_view key) const {
  std::shared_ptr<const KeyTable> table;
  {
    std::lock_guard<std::mutex> lock(mu_);
    table = table_;
  }
  if (!table || key.empty()) return std::nullopt;
  auto it = table->find(source_.hash(key));
  if (it == table->end()) return std::nullopt;
  return it->second;
}

}  // namespace rs::gateway
