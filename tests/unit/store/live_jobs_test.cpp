// JobStore's live-job index (rs:live): creates enter it, terminal transitions leave it,
// load_live reads back every job not ended (oldest first) and prunes stale entries.
#include "rs/store/job_store.h"

#include "store_fixture.h"

namespace rs::store {
namespace {

using schemas::JobRecord;
using schemas::JobState;
using schemas::SubmitRequest;

class LiveJobsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    JobStoreOptions o;
    o.keys.prefix = prefix_;
    keys_ = o.keys;
    store_ = std::make_unique<JobStore>(*conn_, o);
  }
  static JobRecord record(const std::string& id, uint64_t created_ms) {
    JobRecord r;
    r.job_id = id;
    r.model = "tiny";
    r.created_ms = created_ms;
    return r;
  }
  static SubmitRequest request(const std::string& prompt, const std::string& idem = "") {
    SubmitRequest s;
    s.model = "tiny";
    s.prompt = prompt;
    s.max_tokens = 5;
    s.idempotency_key = idem;
    return s;
  }
  KeySpace keys_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(LiveJobsTest, LiveJobsComeBackOldestFirstWithTheirRequests) {
  ASSERT_TRUE(store_->create(record("b", 2000), request("second")).ok());
  ASSERT_TRUE(store_->create(record("a", 1000), request("first")).ok());
  ASSERT_TRUE(store_->create(record("c", 3000), request("third")).ok());
  Transition d;
  d.to = JobState::kDispatched;
  d.attempt = 2;
  d.worker = "w1";
  d.device = 1;
  ASSERT_TRUE(store_->transition("b", d).ok());
  Transition c;
  c.to = JobState::kCancelled;
  ASSERT_TRUE(store_->transition("c", c).ok());
  auto live = store_->load_live();
  ASSERT_TRUE(live.ok()) << live.status().to_string();
  ASSERT_EQ(live->size(), 2u) << "c ended";
  EXPECT_EQ((*live)[0].record.job_id, "a");
  EXPECT_EQ((*live)[0].request.prompt, "first");
  EXPECT_EQ((*live)[0].record.state, JobState::kQueued);
  EXPECT_EQ((*live)[1].record.job_id, "b");
  EXPECT_EQ((*live)[1].record.state, JobState::kDispatched);
  EXPECT_EQ((*live)[1].record.attempt, 2u);
  EXPECT_EQ((*live)[1].record.worker, "w1");
  EXPECT_EQ((*live)[1].record.device, 1);
}

TEST_F(LiveJobsTest, AResubmissionAddsNoEntryAndStaleEntriesArePruned) {
  ASSERT_TRUE(store_->create(record("x", 1), request("p", "idem-1")).ok());
  auto again = store_->create(record("y", 2), request("p", "idem-1"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  auto n = conn_->command({"ZCARD", keys_.live()});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->integer, 1);
  // An entry whose hash is gone (expired, or a create that never landed) and one whose
  // job ended without leaving the index: both are pruned by load_live.
  ASSERT_TRUE(conn_->command(store_->live_add_command("ghost", 5)).ok());
  ASSERT_TRUE(store_->create(record("done", 6), request("q")).ok());
  ASSERT_TRUE(conn_->command({"HSET", keys_.job("done"), "state", "SUCCEEDED"}).ok());
  std::vector<std::string> skipped;
  auto live = store_->load_live(&skipped, 2);
  ASSERT_TRUE(live.ok()) << live.status().to_string();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].record.job_id, "x");
  EXPECT_TRUE(skipped.empty());
  n = conn_->command({"ZCARD", keys_.live()});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->integer, 1);
}

TEST_F(LiveJobsTest, AnUnparsableHashIsSkippedAndReported) {
  ASSERT_TRUE(store_->create(record("ok", 1), request("fine")).ok());
  ASSERT_TRUE(conn_->command(store_->live_add_command("bad", 2)).ok());
  ASSERT_TRUE(conn_->command({"HSET", keys_.job("bad"), "state", "QUEUED", "job_id", "bad", "request", "\x01garbage"}).ok());
  std::vector<std::string> skipped;
  auto live = store_->load_live(&skipped);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("bad"), std::string::npos);
}

}  // namespace
}  // namespace rs::store
