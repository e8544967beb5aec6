// KeyCache with an in-memory key source (the one fake here; the gateway tests use Redis):
// lookups by hash, a change seen within a poll, readers on other threads while the table
// is swapped (run under ThreadSanitizer), and a failing source keeping the last table.
#include "key_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace rs::gateway {
namespace {

class FakeKeys {
 public:
  KeySource source() {
    return KeySource{.version = [this]() -> Result<uint64_t> {
                       if (failing_) return Status(StatusCode::kUnavailable, "redis down");
                       return version_.load();
                     },
                     .load = [this]() -> Result<KeyTable> {
                       std::lock_guard<std::mutex> lock(mu_);
                       return table_;
                     },
                     .hash = [](std::string_view key) { return "h:" + std::string(key); }};
  }
  void set(const std::string& key, const std::string& tenant) {
    std::lock_guard<std::mutex> lock(mu_);
    table_["h:" + key] = store::ApiKeyGrant{tenant};
    ++version_;
  }
  void revoke(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    table_.erase("h:" + key);
    ++version_;
  }
  std::atomic<bool> failing_{false};

 private:
  std::mutex mu_;
  KeyTable table_;
  std::atomic<uint64_t> version_{0};
};

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(KeyCacheTest, KnownKeysMapToTheirTenantAndChangesCountWithinAPoll) {
  FakeKeys keys;
  keys.set("alpha", "acme");
  KeyCache cache(keys.source(), 5);
  ASSERT_TRUE(cache.start().ok());
  EXPECT_EQ(cache.tenant_of("alpha"), "acme");
  EXPECT_FALSE(cache.tenant_of("beta").has_value());
  EXPECT_FALSE(cache.tenant_of("").has_value());
  keys.set("beta", "other");
  EXPECT_TRUE(
      eventually([&] { return cache.tenant_of("beta") == std::optional<std::string>("other"); }));
  keys.revoke("alpha");
  EXPECT_TRUE(eventually([&] { return !cache.tenant_of("alpha").has_value(); }));
}

TEST(KeyCacheTest, ReadersOnOtherThreadsWhileTheTableChanges) {
  FakeKeys keys;
  keys.set("k0", "t");
  KeyCache cache(keys.source(), 1);
  ASSERT_TRUE(cache.start().ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> hits{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (cache.tenant_of("k0")) ++hits;
      }
    });
  }
  for (int i = 1; i < 200; ++i) {
    keys.set("k" + std::to_string(i), "t");
    if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(eventually([&] { return cache.tenant_of("k199").has_value(); }));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(hits.load(), 0u);
}

TEST(KeyCacheTest, AFailingSourceKeepsTheLastTableAndAFirstLoadFailureIsAnError) {
  FakeKeys keys;
  keys.set("alpha", "acme");
  KeyCache cache(keys.source(), 5);
  ASSERT_TRUE(cache.start().ok());
  keys.failing_ = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(cache.tenant_of("alpha"), "acme");
  keys.failing_ = false;
  FakeKeys down;
  down.failing_ = true;
  KeyCache never(down.source(), 5);
  EXPECT_FALSE(never.start().ok());
}

}  // namespace
}  // namespace rs::gateway
