// ModelCatalog: which model key a job runs on (pinned, session, canary, active, highest
// served, unversioned), which references are known, the bounded session map.
#include "rs/broker/model_catalog.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

RegistryModel tiny(uint32_t active, uint32_t canary = 0, uint32_t percent = 0) {
  return RegistryModel{.name = "tiny", .active = active, .canary = canary,
                       .canary_percent = percent, .versions = {1, 2, 3}};
}

ModelTarget catalog_job(uint32_t pinned = 0, std::string session = {}, uint64_t route_key = 7) {
  return ModelTarget{.name = "tiny", .pinned = pinned, .session_id = std::move(session),
                     .route_key = route_key};
}

ResolvedModel key(uint32_t v) {
  return ResolvedModel{v == 0 ? "tiny" : "tiny@" + std::to_string(v), v};
}

TEST(ModelCatalog, NothingServedResolvesToNothing) {
  ModelCatalog c;
  c.set_registry({tiny(1)});
  EXPECT_FALSE(c.resolve(catalog_job()).has_value());
  EXPECT_FALSE(c.resolvable("tiny", 0));
  EXPECT_TRUE(c.knows("tiny", 0));
  EXPECT_TRUE(c.knows("tiny", 3));
  EXPECT_FALSE(c.knows("tiny", 4));
  EXPECT_FALSE(c.knows("other", 0));
}

TEST(ModelCatalog, PinnedGoesToThatVersionOnly) {
  ModelCatalog c;
  c.set_registry({tiny(2)});
  c.set_served("tiny@2", true);
  EXPECT_EQ(c.resolve(catalog_job(2)), key(2));
  EXPECT_FALSE(c.resolve(catalog_job(1)).has_value());  // known, not served: waits
  EXPECT_FALSE(c.resolvable("tiny", 1));
  c.set_served("tiny@1", true);
  EXPECT_EQ(c.resolve(catalog_job(1)), key(1));
}

TEST(ModelCatalog, ActiveFirstThenHighestServedThenUnversioned) {
  ModelCatalog c;
  c.set_registry({tiny(2)});
  c.set_served("tiny", true);
  EXPECT_EQ(c.resolve(catalog_job()), key(0));  // only an unversioned device
  c.set_served("tiny@1", true);
  EXPECT_EQ(c.resolve(catalog_job()), key(1));  // active (2) not loaded yet: the highest served
  c.set_served("tiny@3", true);
  EXPECT_EQ(c.resolve(catalog_job()), key(3));
  c.set_served("tiny@2", true);
  EXPECT_EQ(c.resolve(catalog_job()), key(2));  // the active one, once served
  c.set_served("tiny@2", false);
  EXPECT_EQ(c.resolve(catalog_job()), key(3));
}

TEST(ModelCatalog, SetServedReportsChangesAndKnowsAdvertisedKeys) {
  ModelCatalog c;
  EXPECT_TRUE(c.set_served("m", true));
  EXPECT_FALSE(c.set_served("m", true));
  EXPECT_TRUE(c.knows("m", 0));
  EXPECT_TRUE(c.set_served("m", false));
  EXPECT_FALSE(c.set_served("m", false));
  EXPECT_TRUE(c.knows("m", 0));  // a device once served it: still known
  EXPECT_FALSE(c.knows("m", 2));
  c.set_served("x@4", true);
  EXPECT_TRUE(c.knows("x", 4));
  EXPECT_TRUE(c.knows("x", 0));
}

TEST(ModelCatalog, SessionStaysOnItsVersionAcrossAnActivation) {
  ModelCatalog c;
  c.set_registry({tiny(1)});
  c.set_served("tiny@1", true);
  c.set_served("tiny@2", true);
  auto first = c.resolve(catalog_job(0, "s1"));
  ASSERT_EQ(first, key(1));
  c.record_session("tiny", "s1", first->version);
  c.set_registry({tiny(2)});
  EXPECT_EQ(c.resolve(catalog_job(0, "s1")), key(1));  // the session started on 1
  EXPECT_EQ(c.resolve(catalog_job(0, "s2")), key(2));  // a new session: the active one
  EXPECT_EQ(c.resolve(catalog_job()), key(2));
  c.set_served("tiny@1", false);                // 1 unloaded: the session moves on
  EXPECT_EQ(c.resolve(catalog_job(0, "s1")), key(2));
  // A pinned job does not consult the session.
  c.set_served("tiny@1", true);
  EXPECT_EQ(c.resolve(catalog_job(3, "s1")), std::nullopt);
}

TEST(ModelCatalog, CanaryTakesItsShareOfNewSessions) {
  ModelCatalog c;
  c.set_registry({tiny(1, 2, 25)});
  c.set_served("tiny@1", true);
  c.set_served("tiny@2", true);
  int on_canary = 0;
  for (int i = 0; i < 400; ++i) {
    std::string session = "canary-session-" + std::to_string(i);
    auto r = c.resolve(catalog_job(0, session));
    ASSERT_TRUE(r.has_value());
    if (r->version == 2) ++on_canary;
    EXPECT_EQ(r->version == 2, ModelCatalog::canary_bucket(session, 0) < 25);
    c.record_session("tiny", session, r->version);
  }
  // 25% +- 5% of 400 (a hash share is binomial: one standard deviation is ~9 sessions).
  EXPECT_GE(on_canary, 80);
  EXPECT_LE(on_canary, 120);
  // Without a session the bucket is the routing key's.
  EXPECT_EQ(c.resolve(catalog_job(0, "", 110))->version, 2u);  // 110 % 100 = 10 < 25
  EXPECT_EQ(c.resolve(catalog_job(0, "", 160))->version, 1u);
  // Canary not loaded anywhere: everyone gets the active version.
  c.set_served("tiny@2", false);
  EXPECT_EQ(c.resolve(catalog_job(0, "", 110))->version, 1u);
}

TEST(ModelCatalog, SessionMapIsBoundedLeastRecentlyUsedFirst) {
  ModelCatalog c(ModelCatalogOptions{.max_sessions = 3});
  c.record_session("tiny", "a", 1);
  c.record_session("tiny", "b", 1);
  c.record_session("tiny", "c", 1);
  c.record_session("tiny", "a", 2);  // refreshes a (and moves it to version 2)
  c.record_session("tiny", "d", 1);  // evicts b, the least recently used
  EXPECT_EQ(c.sessions(), 3u);
  EXPECT_EQ(c.session_version("tiny", "a"), 2u);
  EXPECT_FALSE(c.session_version("tiny", "b").has_value());
  EXPECT_EQ(c.session_version("tiny", "c"), 1u);
  EXPECT_EQ(c.session_version("tiny", "d"), 1u);
  EXPECT_FALSE(c.session_version("other", "a").has_value());  // per name
  c.record_session("tiny", "e", 0);  // unversioned: not recorded
  c.record_session("tiny", "", 1);   // no session: not recorded
  EXPECT_EQ(c.sessions(), 3u);
  for (int i = 0; i < 1000; ++i) c.record_session("tiny", "s" + std::to_string(i), 1);
  EXPECT_EQ(c.sessions(), 3u);
}

}  // namespace
