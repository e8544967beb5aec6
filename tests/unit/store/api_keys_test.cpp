// ApiKeys against a real redis-server: add/list/revoke/load_all/version, the key never
// stored (only its SHA-256), revoke by id and by key, bad tenants, unknown ids.
#include "rs/store/api_keys.h"

#include <cctype>
#include <chrono>
#include <set>
#include <thread>

#include "store_fixture.h"

namespace rs::store {
namespace {

class ApiKeysTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ApiKeysOptions o;
    o.keys.prefix = prefix_;
    keys_ = std::make_unique<ApiKeys>(*conn_, o);
  }
  NewApiKey add(const std::string& tenant) {
    auto k = keys_->add(tenant);
    EXPECT_TRUE(k.ok()) << k.status().to_string();
    return k.ok() ? *k : NewApiKey{};
  }
  uint64_t version() {
    auto v = keys_->version();
    EXPECT_TRUE(v.ok()) << v.status().to_string();
    return v.ok() ? *v : 0;
  }
  std::vector<ApiKeyInfo> listed() {
    auto l = keys_->list();
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    return l.ok() ? *l : std::vector<ApiKeyInfo>{};
  }
  // Every key name, field and value under this test's prefix, as one text.
  std::string everything_stored() {
    auto names = conn_->command({"KEYS", prefix_ + "*"});
    EXPECT_TRUE(names.ok());
    std::string all;
    for (const RedisReply& n : names->elements) {
      all += n.str + "\n";
      auto type = conn_->command({"TYPE", n.str});
      RedisCommand read =
          type->str == "hash" ? RedisCommand{"HGETALL", n.str} : RedisCommand{"GET", n.str};
      auto r = conn_->command(read);
      EXPECT_TRUE(r.ok());
      all += r->str + "\n";
      for (const RedisReply& e : r->elements) all += e.str + "\n";
    }
    return all;
  }
  std::unique_ptr<ApiKeys> keys_;
};

TEST_F(ApiKeysTest, HashIsLowercaseSha256Hex) {
  EXPECT_EQ(api_key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(api_key_hash("").size(), 64u);
}

TEST_F(ApiKeysTest, AddMakesARandomKeyWithItsIdAsPrefix) {
  NewApiKey k = add("acme");
  ASSERT_EQ(k.key.size(), 44u);
  EXPECT_EQ(k.key.substr(0, 4), "rsk-");
  for (char c : k.key.substr(4)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << k.key;
  EXPECT_EQ(k.id, k.key.substr(0, 12));
  EXPECT_EQ(k.tenant, "acme");
  std::set<std::string> seen{k.key};
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(seen.insert(add("acme").key).second);
  EXPECT_EQ(listed().size(), 51u);
}

TEST_F(ApiKeysTest, StoredDataNeverContainsTheKey) {
  NewApiKey a = add("acme");
  NewApiKey b = add("globex");
  std::string stored = everything_stored();
  for (const NewApiKey& k : {a, b}) {
    EXPECT_EQ(stored.find(k.key), std::string::npos) << stored;
    EXPECT_EQ(stored.find(k.key.substr(12)), std::string::npos) << "the secret part is stored";
    EXPECT_NE(stored.find(api_key_hash(k.key)), std::string::npos) << "its hash is stored";
    EXPECT_NE(stored.find(k.id), std::string::npos) << "its public id is stored";
  }
}

TEST_F(ApiKeysTest, ListShowsIdTenantAndCreatedOldestFirst) {
  EXPECT_TRUE(listed().empty());
  auto before = std::chrono::system_clock::now();
  NewApiKey a = add("acme");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  NewApiKey b = add("globex.eu_1-x");
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto before_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
  std::vector<ApiKeyInfo> l = listed();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].id, a.id);
  EXPECT_EQ(l[0].tenant, "acme");
  EXPECT_EQ(l[1].id, b.id);
  EXPECT_EQ(l[1].tenant, "globex.eu_1-x");
  for (const ApiKeyInfo& k : l) {
    EXPECT_GE(k.created_ms, static_cast<uint64_t>(before_ms));
    EXPECT_LE(k.created_ms, static_cast<uint64_t>(now_ms));
  }
}

TEST_F(ApiKeysTest, LoadAllMapsHashToTenant) {
  auto empty = keys_->load_all();
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_TRUE(empty->empty());
  NewApiKey a = add("acme");
  NewApiKey b = add("globex");
  NewApiKey c = add("acme");
  auto all = keys_->load_all();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  std::unordered_map<std::string, ApiKeyGrant> want{{api_key_hash(a.key), {"acme"}},
                                                    {api_key_hash(b.key), {"globex"}},
                                                    {api_key_hash(c.key), {"acme"}}};
  EXPECT_EQ(*all, want);
}

TEST_F(ApiKeysTest, ScopesAreStoredListedAndLoaded) {
  auto k = keys_->add("acme", kScopeInfer | kScopeAdmin);
  ASSERT_TRUE(k.ok()) << k.status().to_string();
  EXPECT_EQ(k->scopes, kScopeInfer | kScopeAdmin);
  NewApiKey d = add("globex");
  EXPECT_EQ(d.scopes, kDefaultScopes);
  std::vector<ApiKeyInfo> l = listed();
  ASSERT_EQ(l.size(), 2u);
  // Listed by creation time, then id: two keys made in the same millisecond come in id order.
  const ApiKeyInfo& acme = l[0].tenant == "acme" ? l[0] : l[1];
  const ApiKeyInfo& globex = l[0].tenant == "acme" ? l[1] : l[0];
  EXPECT_EQ(acme.tenant, "acme");
  EXPECT_EQ(globex.tenant, "globex");
  EXPECT_EQ(acme.scopes, kScopeInfer | kScopeAdmin);
  EXPECT_EQ(globex.scopes, kDefaultScopes);
  auto all = keys_->load_all();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->at(api_key_hash(k->key)), (ApiKeyGrant{"acme", kScopeInfer | kScopeAdmin}));
  EXPECT_EQ(keys_->add("acme", 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ApiKeysTest, KeyStoredBeforeScopesHasTheDefaultScopes) {
  // The record format before scopes: "<id> <created_ms> <tenant>".
  const std::string hash = api_key_hash("rsk-old");
  ASSERT_TRUE(
      conn_->command({"HSET", prefix_ + "apikeys", hash, "rsk-old00000 1700000000000 legacy"}).ok());
  auto all = keys_->load_all();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_EQ(all->at(hash), (ApiKeyGrant{"legacy", kDefaultScopes}));
  ASSERT_EQ(listed().size(), 1u);
  EXPECT_EQ(listed()[0].scopes, kDefaultScopes);
  ASSERT_TRUE(conn_->command({"HSET", prefix_ + "apikeys", hash, "rsk-old00000 1 t bogus"}).ok());
  EXPECT_EQ(keys_->load_all().status().code(), StatusCode::kCorrupt);
}

TEST_F(ApiKeysTest, VersionCountsEveryAddAndRevoke) {
  EXPECT_EQ(version(), 0u);
  NewApiKey a = add("acme");
  EXPECT_EQ(version(), 1u);
  add("acme");
  EXPECT_EQ(version(), 2u);
  EXPECT_TRUE(keys_->revoke(a.id).ok());
  EXPECT_EQ(version(), 3u);
  EXPECT_EQ(keys_->revoke(a.id).code(), StatusCode::kNotFound);
  EXPECT_EQ(version(), 3u) << "a failed revoke changes nothing";
  EXPECT_EQ(keys_->add("bad tenant").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(version(), 3u) << "a refused add changes nothing";
}

TEST_F(ApiKeysTest, RevokeByIdTakesEffectAtOnce) {
  NewApiKey a = add("acme");
  NewApiKey b = add("globex");
  ASSERT_TRUE(keys_->revoke(a.id).ok());
  auto all = keys_->load_all();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count(api_key_hash(a.key)), 0u);
  EXPECT_EQ(all->count(api_key_hash(b.key)), 1u);
  std::vector<ApiKeyInfo> l = listed();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].id, b.id);
  EXPECT_EQ(keys_->revoke(a.key).code(), StatusCode::kNotFound) << "already gone by its key too";
}

TEST_F(ApiKeysTest, RevokeByKey) {
  NewApiKey a = add("acme");
  ASSERT_TRUE(keys_->revoke(a.key).ok());
  EXPECT_TRUE(listed().empty());
  auto all = keys_->load_all();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(everything_stored().find(a.id), std::string::npos) << "the id mapping is gone too";
  EXPECT_EQ(keys_->revoke(a.id).code(), StatusCode::kNotFound);
}

TEST_F(ApiKeysTest, UnknownIdIsNotFoundWithoutEchoingAKey) {
  add("acme");
  Status s = keys_->revoke("rsk-00000000");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("rsk-00000000"), std::string::npos) << s.message();
  std::string unknown_key = "rsk-" + std::string(40, 'Z');
  s = keys_->revoke(unknown_key);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message().find(unknown_key), std::string::npos) << s.message();
  EXPECT_EQ(keys_->revoke("").code(), StatusCode::kNotFound);
  EXPECT_EQ(listed().size(), 1u);
}

TEST_F(ApiKeysTest, BadTenantsAreRefused) {
  for (const std::string& t :
       {std::string(), std::string(65, 'a'), std::string("a b"), std::string("a:b"),
        std::string("a/b"), std::string("caf\xc3\xa9"), std::string("a\nb")}) {
    auto k = keys_->add(t);
    EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument) << "'" << t << "'";
  }
  EXPECT_TRUE(keys_->add(std::string(64, 'a')).ok());
  EXPECT_TRUE(keys_->add("A-z_0.9").ok());
  EXPECT_EQ(listed().size(), 2u);
}

TEST_F(ApiKeysTest, CorruptRecordIsReportedNotGuessed) {
  ASSERT_TRUE(conn_->command({"HSET", prefix_ + "apikeys", std::string(64, 'f'), "garbage"}).ok());
  EXPECT_EQ(keys_->list().status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(keys_->load_all().status().code(), StatusCode::kCorrupt);
}

TEST_F(ApiKeysTest, RedisDownIsUnavailable) {
  server_->stop();
  EXPECT_EQ(keys_->add("acme").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(keys_->version().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(keys_->load_all().status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server_->start());
}

}  // namespace
}  // namespace rs::store
