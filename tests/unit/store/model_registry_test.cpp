#include "rs/store/model_registry.h"

#include <hiredis/hiredis.h>

#include "store_fixture.h"

namespace rs::store {
namespace {

class ModelRegistryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ModelRegistryOptions o;
    o.keys.prefix = prefix_;
    reg_ = std::make_unique<ModelRegistry>(*conn_, o);
  }
  static ModelVersion record(const std::string& name, const std::string& path) {
    ModelVersion r;
    r.name = name;
    r.path = path;
    r.size_bytes = 123456;
    r.sha256 = std::string(64, 'a');
    r.architecture = "llama";
    r.tensor_type = "Q8_0";
    r.created_ms = 1700000000000;
    r.note = "first cut";
    return r;
  }
  uint32_t add(const std::string& name, const std::string& path) {
    auto v = reg_->add_version(record(name, path));
    EXPECT_TRUE(v.ok()) << v.status().to_string();
    return v.ok() ? *v : 0;
  }
  uint32_t active_version(const std::string& name) {
    auto a = reg_->active(name);
    EXPECT_TRUE(a.ok()) << a.status().to_string();
    return a.ok() && a->has_value() ? (*a)->version : 0;
  }
  uint64_t epoch() {
    auto e = reg_->epoch();
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? *e : 0;
  }
  std::unique_ptr<ModelRegistry> reg_;
};

TEST_F(ModelRegistryTest, VersionsAreNumberedFromOne) {
  EXPECT_EQ(add("tiny", "/m/a.gguf"), 1u);
  EXPECT_EQ(add("tiny", "/m/b.gguf"), 2u);
  EXPECT_EQ(add("tiny", "/m/c.gguf"), 3u);
  EXPECT_EQ(add("other", "/m/o.gguf"), 1u);
  auto got = reg_->get("tiny", 2);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ModelVersion want = record("tiny", "/m/b.gguf");
  want.version = 2;
  EXPECT_EQ(*got, want);
  auto a = reg_->active("tiny");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->has_value());
}

TEST_F(ModelRegistryTest, ActivateAndRollback) {
  for (int i = 0; i < 3; ++i) add("tiny", "/m/" + std::to_string(i));
  auto none = reg_->rollback("tiny");
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(reg_->activate("tiny", 1).ok());
  EXPECT_EQ(active_version("tiny"), 1u);
  ASSERT_TRUE(reg_->activate("tiny", 2).ok());
  ASSERT_TRUE(reg_->activate("tiny", 3).ok());
  EXPECT_EQ(active_version("tiny"), 3u);

  auto r = reg_->rollback("tiny");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(active_version("tiny"), 2u);
  r = reg_->rollback("tiny");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, 1u);
  EXPECT_EQ(reg_->rollback("tiny").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(active_version("tiny"), 1u);

  // Rollback skips versions removed since they were active.
  ASSERT_TRUE(reg_->activate("tiny", 2).ok());
  ASSERT_TRUE(reg_->activate("tiny", 3).ok());
  ASSERT_TRUE(reg_->remove("tiny", 2).ok());
  r = reg_->rollback("tiny");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, 1u);

  auto list = reg_->list("tiny");
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].version, 1u);
  EXPECT_TRUE((*list)[0].active);
  EXPECT_EQ((*list)[1].version, 3u);
  EXPECT_FALSE((*list)[1].active);
}

TEST_F(ModelRegistryTest, RemoveRefusedWhileActive) {
  add("tiny", "/m/1");
  add("tiny", "/m/2");
  ASSERT_TRUE(reg_->activate("tiny", 1).ok());
  Status s = reg_->remove("tiny", 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("active"), std::string::npos) << s.message();
  EXPECT_TRUE(reg_->get("tiny", 1).ok());

  ASSERT_TRUE(reg_->remove("tiny", 2).ok());
  EXPECT_EQ(reg_->get("tiny", 2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->remove("tiny", 2).code(), StatusCode::kNotFound);

  ASSERT_TRUE(reg_->activate("tiny", 1).ok());  // already active: no change
  add("tiny", "/m/3");                          // numbers are never reused
  auto v3 = reg_->get("tiny", 3);
  ASSERT_TRUE(v3.ok()) << v3.status().to_string();
  EXPECT_EQ(v3->path, "/m/3");
}

TEST_F(ModelRegistryTest, SetErrorVisibleInList) {
  add("tiny", "/m/1");
  add("tiny", "/m/2");
  ASSERT_TRUE(reg_->set_error("tiny", 2, "sha256 mismatch").ok());
  auto all = reg_->list_all();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].error, "");
  EXPECT_EQ((*all)[1].error, "sha256 mismatch");
  EXPECT_EQ(reg_->set_error("tiny", 9, "x").code(), StatusCode::kNotFound);
}

TEST_F(ModelRegistryTest, ListAllSortedByNameAndVersion) {
  add("zeta", "/z1");
  add("alpha", "/a1");
  add("alpha", "/a2");
  ASSERT_TRUE(reg_->activate("alpha", 2).ok());
  auto all = reg_->list_all();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "alpha");
  EXPECT_EQ((*all)[0].version, 1u);
  EXPECT_FALSE((*all)[0].active);
  EXPECT_TRUE((*all)[1].active);
  EXPECT_EQ((*all)[2].name, "zeta");

  // Removing a name's last version drops the name.
  ASSERT_TRUE(reg_->remove("zeta", 1).ok());
  all = reg_->list_all();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(reg_->list("zeta").status().code(), StatusCode::kNotFound);
}

TEST_F(ModelRegistryTest, EpochIncreasesOnEveryChange) {
  EXPECT_EQ(epoch(), 0u);
  add("tiny", "/m/1");
  EXPECT_EQ(epoch(), 1u);
  add("tiny", "/m/2");
  EXPECT_EQ(epoch(), 2u);
  ASSERT_TRUE(reg_->activate("tiny", 1).ok());
  EXPECT_EQ(epoch(), 3u);
  ASSERT_TRUE(reg_->activate("tiny", 1).ok());  // no change, no bump
  EXPECT_EQ(epoch(), 3u);
  ASSERT_TRUE(reg_->activate("tiny", 2).ok());
  EXPECT_EQ(epoch(), 4u);
  ASSERT_TRUE(reg_->rollback("tiny").ok());
  EXPECT_EQ(epoch(), 5u);
  ASSERT_TRUE(reg_->set_error("tiny", 2, "bad").ok());
  EXPECT_EQ(epoch(), 6u);
  ASSERT_TRUE(reg_->remove("tiny", 2).ok());
  EXPECT_EQ(epoch(), 7u);
  // Refused changes do not bump it.
  EXPECT_FALSE(reg_->remove("tiny", 1).ok());
  EXPECT_FALSE(reg_->activate("tiny", 9).ok());
  EXPECT_EQ(epoch(), 7u);
}

// A raw hiredis subscriber (RedisConnection has no way to read a reply it did not ask for).
TEST_F(ModelRegistryTest, ChangesArePublished) {
  timeval tv{2, 0};
  redisContext* sub = redisConnectWithTimeout("127.0.0.1", server_->port(), tv);
  ASSERT_TRUE(sub != nullptr && sub->err == 0);
  redisSetTimeout(sub, tv);
  std::string channel = reg_->options().keys.models_channel();
  auto* r = static_cast<redisReply*>(redisCommand(sub, "SUBSCRIBE %b", channel.data(), channel.size()));
  ASSERT_NE(r, nullptr);
  freeReplyObject(r);

  add("tiny", "/m/1");
  ASSERT_TRUE(reg_->activate("tiny", 1).ok());
  std::vector<std::string> messages;
  for (int i = 0; i < 2; ++i) {
    void* raw = nullptr;
    ASSERT_EQ(redisGetReply(sub, &raw), REDIS_OK);  // bounded by the 2 s timeout
    auto* m = static_cast<redisReply*>(raw);
    ASSERT_EQ(m->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(m->elements, 3u);
    messages.emplace_back(m->element[2]->str, m->element[2]->len);
    freeReplyObject(m);
  }
  redisFree(sub);
  EXPECT_EQ(messages[0], "1 tiny add 1");
  EXPECT_EQ(messages[1], "2 tiny activate 1");
  auto ev = parse_model_event(messages[1]);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->epoch, 2u);
  EXPECT_EQ(ev->name, "tiny");
  EXPECT_EQ(ev->op, "activate");
  EXPECT_EQ(ev->version, 1u);
  EXPECT_FALSE(parse_model_event("x tiny add 1").ok());
}

TEST_F(ModelRegistryTest, UnknownNamesAndVersions) {
  EXPECT_EQ(reg_->activate("nope", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->rollback("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->remove("nope", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->set_error("nope", 1, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->get("nope", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->active("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->list("nope").status().code(), StatusCode::kNotFound);
  add("tiny", "/m/1");
  Status s = reg_->activate("tiny", 2);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("no such version"), std::string::npos) << s.message();
  EXPECT_EQ(active_version("tiny"), 0u);
  EXPECT_EQ(reg_->add_version(record("bad name", "/x")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->add_version(record("", "/x")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->activate("a:b", 1).code(), StatusCode::kInvalidArgument);
  auto all = reg_->list_all();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(ModelRegistryTest, CanarySharesThenActivatesOrRollsBack) {
  add("tiny", "/m/a.gguf");
  add("tiny", "/m/b.gguf");
  add("tiny", "/m/c.gguf");
  // A canary needs an active version, and cannot be the active one.
  EXPECT_EQ(reg_->activate("tiny", 2, 25).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(reg_->activate("tiny", 1).ok());
  EXPECT_EQ(reg_->activate("tiny", 1, 25).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->activate("tiny", 2, 101).code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(reg_->activate("tiny", 2, 25).ok());
  auto r = reg_->routing("tiny");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, (ModelRouting{"tiny", 1, 2, 25}));
  auto listed = reg_->list("tiny");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE((*listed)[0].active);
  EXPECT_EQ((*listed)[1].canary_percent, 25u);
  EXPECT_FALSE((*listed)[1].active);
  EXPECT_EQ(reg_->remove("tiny", 2).code(), StatusCode::kInvalidArgument);  // the canary

  // Rollback withdraws the canary; v1 stays active.
  auto back = reg_->rollback("tiny");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, 1u);
  EXPECT_EQ(*reg_->routing("tiny"), (ModelRouting{"tiny", 1, 0, 0}));

  // Canary then full activation: the canary is cleared, v1 goes onto the history.
  ASSERT_TRUE(reg_->activate("tiny", 3, 10).ok());
  ASSERT_TRUE(reg_->activate("tiny", 3).ok());
  EXPECT_EQ(*reg_->routing("tiny"), (ModelRouting{"tiny", 3, 0, 0}));
  EXPECT_EQ(*reg_->rollback("tiny"), 1u);
  // 100% is a full activation.
  ASSERT_TRUE(reg_->activate("tiny", 2, 100).ok());
  EXPECT_EQ(*reg_->routing("tiny"), (ModelRouting{"tiny", 2, 0, 0}));
  auto all = reg_->routing_all();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
}

}  // namespace
}  // namespace rs::store
