// KeyCache: the gateway's copy of the API keys (SHA-256 of the key -> tenant and scopes), kept by its
// own thread: it polls the keys' version counter in Redis every poll_ms and reloads the
// table when it changed, so an added or revoked key counts within one poll. grant_of()
// may be called from any thread. A Redis that cannot be read keeps the last table.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "rs/core/result.h"
#include "rs/store/api_scopes.h"

namespace rs::gateway {

using KeyTable = std::unordered_map<std::string, store::ApiKeyGrant>;

struct KeySource {
  std::function<Result<uint64_t>()> version;
  std::function<Result<KeyTable>()> load;
  std::function<std::string(std::string_view)> hash;  // key -> its stored hash
};

class KeyCache {
 public:
  KeyCache(KeySource source, int poll_ms) : source_(std::move(source)), poll_ms_(poll_ms) {}
  ~KeyCache() { stop(); }
  // Loads once (an error if Redis cannot be read) and starts the polling thread.
  Status start();
  void stop();
  // The tenant and scopes of a presented key, nullopt for an unknown or revoked one.
  std::optional<store::ApiKeyGrant> grant_of(std::string_view key) const;
  std::optional<std::string> tenant_of(std::string_view key) const {
    auto grant = grant_of(key);
    if (!grant) return std::nullopt;
    return grant->tenant;
  }

 private:
  void run();
  Status refresh();

  KeySource source_;
  int poll_ms_;
  mutable std::mutex mu_;
  std::shared_ptr<const KeyTable> table_;
  std::optional<uint64_t> version_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rs::gateway
