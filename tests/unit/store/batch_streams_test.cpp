#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"

#include <unistd.h>

#include "store_fixture.h"

namespace rs::store {
namespace {

using schemas::ErrorCode;
using schemas::JobState;
using schemas::Priority;

class BatchStreamsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    keys_.prefix = prefix_;
  }
  IngestOptions opts(std::string consumer) const {
    IngestOptions o;
    o.keys = keys_;
    o.consumer = std::move(consumer);
    return o;
  }
  static IngestItem item(std::string id) {
    IngestItem it;
    it.batch = "b1";
    it.item_id = std::move(id);
    it.request.model = "m";
    it.request.prompt = "hello " + it.item_id;
    return it;
  }
  Status xadd(const StreamFields& fields) {
    RedisCommand cmd{"XADD", keys_.ingest(), "*"};
    for (const auto& [f, v] : fields) cmd.insert(cmd.end(), {f, v});
    auto r = conn_->command(cmd);
    if (!r.ok()) return r.status();
    return r->error_status("xadd");
  }
  KeySpace keys_;
};

TEST_F(BatchStreamsTest, IngestFieldsRoundTrip) {
  IngestItem it = item("7");
  auto& r = it.request;
  r.max_tokens = 33;
  r.sampling = {0.5f, 40, 0.9f, 0.05f, 1.1f, 12345678901234ull};
  r.stop = {"\n\n", "END \"q\""};
  r.priority = Priority::kInteractive;
  r.idempotency_key = "k";
  r.session_id = "s";
  r.affinity_key = "a";
  r.stream = false;
  auto back = ingest_from_fields("1-0", ingest_to_fields(it));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->entry_id, "1-0");
  EXPECT_EQ(back->batch, "b1");
  EXPECT_EQ(back->item_id, "7");
  EXPECT_EQ(back->request, r);
}

TEST_F(BatchStreamsTest, IngestDefaultsAndBadValues) {
  auto min = ingest_from_fields("1-0", {{"model", "m"}, {"prompt", "p"}});
  ASSERT_TRUE(min.ok());
  EXPECT_EQ(min->request.priority, Priority::kBatch);
  EXPECT_FALSE(min->request.stream);
  EXPECT_EQ(IngestItem{}.request.priority, Priority::kBatch);
  EXPECT_EQ(min->request.max_tokens, 128u);
  EXPECT_TRUE(min->batch.empty());
  EXPECT_TRUE(ingest_from_fields("1-0", {{"model", "m"}, {"prompt", "p"}, {"future", "x"}}).ok());

  EXPECT_EQ(ingest_from_fields("1-0", {{"prompt", "p"}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ingest_from_fields("1-0", {{"model", "m"}}).status().code(), StatusCode::kInvalidArgument);
  for (auto [f, v] : std::vector<std::pair<std::string, std::string>>{
           {"max_tokens", "-1"}, {"max_tokens", "ten"}, {"temperature", "x"}, {"top_k", "1.5"},
           {"seed", ""}, {"stop", "not json"}, {"stop", "[1]"}, {"stop", "{}"}, {"priority", "urgent"}}) {
    auto bad = ingest_from_fields("1-0", {{"model", "m"}, {"prompt", "p"}, {f, v}});
    ASSERT_FALSE(bad.ok()) << f << "=" << v;
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(f), std::string::npos) << bad.status().to_string();
  }
}

// Found by fuzz/store_records: a repeated field whose last value is empty used to pass the
// "lacks model" check (an earlier non-empty one counted) and left an item with no model.
TEST_F(BatchStreamsTest, IngestRepeatedFieldEndingEmptyIsMissing) {
  EXPECT_EQ(ingest_from_fields("1-0", {{"model", "m"}, {"prompt", "p"}, {"model", ""}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ingest_from_fields("1-0", {{"model", "m"}, {"prompt", "p"}, {"prompt", ""}}).status().code(),
            StatusCode::kInvalidArgument);
  auto last = ingest_from_fields("1-0", {{"model", ""}, {"model", "m"}, {"prompt", "p"}});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->request.model, "m");
}

TEST_F(BatchStreamsTest, ResultFieldsRoundTripAndBadValues) {
  BatchResult res;
  res.batch = "b";
  res.entry_id = "5-1";
  res.item_id = "x";
  res.text = "héllo\nworld";
  auto& r = res.record;
  r.job_id = "j1";
  r.state = JobState::kFailed;
  r.model = "m";
  r.model_version = 3;
  r.attempt = 2;
  r.usage = {10, 20, 1.5, 2.25, 99.5};
  r.error_code = ErrorCode::kMaxAttempts;
  r.error = "boom";
  r.finished_ms = 1700000000000ull;
  auto back = result_from_fields("b", "5-1", result_to_fields(res));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->batch, "b");
  EXPECT_EQ(back->entry_id, "5-1");
  EXPECT_EQ(back->item_id, "x");
  EXPECT_EQ(back->text, res.text);
  EXPECT_EQ(back->record, r);

  EXPECT_FALSE(result_from_fields("b", "1-0", {{"id", "x"}}).ok());  // no state
  EXPECT_FALSE(result_from_fields("b", "1-0", {{"state", "DONE?"}}).ok());
  EXPECT_FALSE(result_from_fields("b", "1-0", {{"state", "SUCCEEDED"}, {"attempt", "-2"}}).ok());
}

TEST_F(BatchStreamsTest, GroupCreateIsIdempotent) {
  IngestStream s(*conn_, opts("b1"));
  ASSERT_TRUE(s.ensure_group().ok());
  ASSERT_TRUE(s.ensure_group().ok());
  EXPECT_EQ(s.length().value(), 0u);  // MKSTREAM
  EXPECT_EQ(s.pending().value(), 0u);
  BatchResults results(*conn_, keys_);
  ASSERT_TRUE(results.ensure_group("b", "pipeline").ok());
  ASSERT_TRUE(results.ensure_group("b", "pipeline").ok());
  EXPECT_EQ(results.length("b").value(), 0u);
}

TEST_F(BatchStreamsTest, ReadAckAndPending) {
  IngestStream producer(*conn_, opts("p"));
  // Appended before the group exists: the group starts from the stream's start.
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(producer.append(item(std::to_string(i))).value());
  IngestStream s(*conn_, opts("b1"));
  ASSERT_TRUE(s.ensure_group().ok());
  auto first = s.read(3);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].entry_id, ids[0]);
  auto parsed = ingest_from_fields((*first)[1].entry_id, (*first)[1].fields);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->item_id, "1");
  EXPECT_EQ(parsed->request.prompt, "hello 1");
  auto rest = s.read(10);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), 2u);
  EXPECT_TRUE(s.read(10)->empty());
  EXPECT_EQ(s.pending().value(), 5u);
  std::vector<RedisCommand> acks;
  for (const auto& id : ids) acks.push_back(s.ack_command(id));
  auto replies = conn_->pipeline(acks);
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ((*replies)[0].integer, 1);
  EXPECT_EQ(s.pending().value(), 0u);
  EXPECT_EQ(s.length().value(), 5u);
}

TEST_F(BatchStreamsTest, TrimDeletesOnlyAcknowledgedEntries) {
  IngestStream producer(*conn_, opts("p"));
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(producer.append(item(std::to_string(i))).value());
  IngestStream s(*conn_, opts("b1"));
  ASSERT_TRUE(s.ensure_group().ok());
  ASSERT_EQ(s.read(4)->size(), 4u);  // 0..3 delivered, 4..5 not yet
  for (int i : {0, 1, 3}) ASSERT_TRUE(conn_->command(s.ack_command(ids[static_cast<size_t>(i)])).ok());
  auto trimmed = s.trim_acknowledged();
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().to_string();
  EXPECT_EQ(*trimmed, 2u) << "0 and 1; 2 is pending, so 3 stays too";
  EXPECT_EQ(s.length().value(), 4u);
  ASSERT_TRUE(conn_->command(s.ack_command(ids[2])).ok());
  EXPECT_EQ(s.trim_acknowledged().value(), 2u) << "2 and 3: everything delivered is acked";
  EXPECT_EQ(s.length().value(), 2u);
  auto rest = s.read(10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u) << "undelivered entries are never trimmed";
  EXPECT_EQ((*rest)[0].entry_id, ids[4]);
}

TEST_F(BatchStreamsTest, BadEntryIsStillRead) {
  IngestStream s(*conn_, opts("b1"));
  ASSERT_TRUE(s.ensure_group().ok());
  ASSERT_TRUE(xadd({{"model", "m"}, {"max_tokens", "lots"}}).ok());
  auto got = s.read(10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_FALSE(ingest_from_fields((*got)[0].entry_id, (*got)[0].fields).ok());
}

TEST_F(BatchStreamsTest, ClaimStaleMovesIdleEntries) {
  IngestStream dead(*conn_, opts("dead"));
  IngestStream live(*conn_, opts("live"));
  ASSERT_TRUE(dead.ensure_group().ok());
  auto id = dead.append(item("a")).value();
  auto id2 = dead.append(item("b")).value();
  ASSERT_EQ(dead.read(10)->size(), 2u);  // delivered to "dead", never acked
  // Deleted meanwhile: dropped by the claim.
  ASSERT_TRUE(conn_->command({"XDEL", keys_.ingest(), id2}).ok());
  // Not idle long enough yet.
  EXPECT_TRUE(live.claim_stale(60000, 10)->empty());
  std::vector<IngestEntry> claimed;
  for (int i = 0; i < 200 && claimed.empty(); ++i) {
    auto c = live.claim_stale(20, 10);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    claimed = std::move(*c);
    if (claimed.empty()) usleep(5000);
  }
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].entry_id, id);
  EXPECT_EQ(ingest_from_fields(claimed[0].entry_id, claimed[0].fields)->item_id, "a");
  // Now pending on "live" (idle reset): a second claim with the same idle gets nothing at once.
  EXPECT_TRUE(live.claim_stale(60000, 10)->empty());
  auto xp = conn_->command({"XPENDING", keys_.ingest(), "brokers", "-", "+", "10", "live"});
  ASSERT_TRUE(xp.ok());
  ASSERT_EQ(xp->elements.size(), 1u);
  EXPECT_EQ(xp->elements[0].elements[0].str, id);
}

TEST_F(BatchStreamsTest, ResultsAppendReadPendingAck) {
  BatchResults results(*conn_, keys_);
  for (int i = 0; i < 4; ++i) {
    BatchResult r;
    r.batch = "b";
    r.item_id = std::to_string(i);
    r.text = "text" + std::to_string(i);
    r.record.job_id = "j" + std::to_string(i);
    r.record.state = JobState::kSucceeded;
    auto reply = conn_->command(results.append_command(r));
    ASSERT_TRUE(reply.ok());
    ASSERT_TRUE(reply->is_string()) << reply->str;
  }
  EXPECT_EQ(results.length("b").value(), 4u);
  ASSERT_TRUE(results.ensure_group("b", "pipeline").ok());
  EXPECT_TRUE(results.read_pending("b", "pipeline", "cli", 10)->empty());
  auto got = results.read("b", "pipeline", "cli", 3, 0);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[2].item_id, "2");
  EXPECT_EQ((*got)[2].text, "text2");
  EXPECT_EQ((*got)[2].batch, "b");
  EXPECT_EQ((*got)[2].record.job_id, "j2");
  // Two saved and acked; the third "crashed" before its ack: it comes back as pending.
  ASSERT_TRUE(results.ack("b", "pipeline", {(*got)[0].entry_id, (*got)[1].entry_id}).ok());
  auto pend = results.read_pending("b", "pipeline", "cli", 10);
  ASSERT_TRUE(pend.ok());
  ASSERT_EQ(pend->size(), 1u);
  EXPECT_EQ((*pend)[0].item_id, "2");
  auto last = results.read("b", "pipeline", "cli", 10, 50);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].item_id, "3");
  // Nothing new: a short block returns empty.
  EXPECT_TRUE(results.read("b", "pipeline", "cli", 10, 20)->empty());
  ASSERT_TRUE(results.ack("b", "pipeline", {(*pend)[0].entry_id, (*last)[0].entry_id}).ok());
  EXPECT_TRUE(results.read_pending("b", "pipeline", "cli", 10)->empty());
  EXPECT_TRUE(results.ack("b", "pipeline", {}).ok());
}

// The broker's create-and-ack: the entry is acked with the job stored; a second create
// with the same key (the entry claimed again) acks it and stores nothing.
TEST_F(BatchStreamsTest, CreateWithAckStoresTheJobAndAcksTheEntry) {
  JobStoreOptions js;
  js.keys = keys_;
  JobStore jobs(*conn_, js);
  IngestStream s(*conn_, opts("b1"));
  ASSERT_TRUE(s.ensure_group().ok());
  const std::string entry = s.append(item("x")).value();
  ASSERT_EQ(s.read(10)->size(), 1u);
  EXPECT_EQ(s.pending().value(), 1u);
  schemas::SubmitRequest req;
  req.model = "m";
  req.prompt = "p";
  req.idempotency_key = "ingest:b1:x";
  CreateExtras extras{.fields = {{"batch", "b1"}, {"item_id", "x"}}, .ack_stream = keys_.ingest(),
                      .ack_group = "brokers", .ack_entry = entry};
  schemas::JobRecord rec;
  rec.job_id = "j1";
  rec.model = "m";
  auto reply = conn_->command(jobs.create_command(rec, req, extras));
  ASSERT_TRUE(reply.ok());
  auto created = JobStore::parse_create_reply(*reply, "j1");
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(s.pending().value(), 0u);
  auto batch = conn_->command({"HGET", keys_.job("j1"), "batch"});
  EXPECT_EQ(batch->str, "b1");
  EXPECT_EQ(jobs.load("j1")->state, JobState::kQueued);
  EXPECT_EQ(jobs.load_request("j1")->prompt, "p");
  // The same item appended again: its create is a duplicate, acked, nothing stored.
  extras.ack_entry = s.append(item("x")).value();
  ASSERT_EQ(s.read(10)->size(), 1u);
  EXPECT_EQ(s.pending().value(), 1u);
  rec.job_id = "j2";
  reply = conn_->command(jobs.create_command(rec, req, extras));
  ASSERT_TRUE(reply.ok());
  created = JobStore::parse_create_reply(*reply, "j2");
  ASSERT_TRUE(created.ok());
  EXPECT_FALSE(created->created);
  EXPECT_EQ(created->job_id, "j1");
  EXPECT_EQ(s.pending().value(), 0u);
  EXPECT_EQ(jobs.load("j2").status().code(), StatusCode::kNotFound);
}

TEST_F(BatchStreamsTest, KeyNames) {
  KeySpace k;
  EXPECT_EQ(k.ingest(), "rs:ingest");
  EXPECT_EQ(k.batch("b-1"), "rs:batch:b-1");
  EXPECT_EQ(k.batch_results("b-1"), "rs:batch:b-1:results");
}

}  // namespace
}  // namespace rs::store
