#include "rs/store/job_store.h"

#include <limits>

#include "store_fixture.h"

namespace rs::store {
namespace {

using schemas::ErrorCode;
using schemas::JobRecord;
using schemas::JobState;
using schemas::SubmitRequest;

Transition tr(JobState to, uint32_t attempt = 0, std::string worker = "", int32_t device = -1, uint64_t at = 0) {
  Transition t;
  t.to = to;
  t.attempt = attempt;
  t.worker = std::move(worker);
  t.device = device;
  t.at_ms = at;
  return t;
}

class JobStoreTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    JobStoreOptions o;
    o.keys.prefix = prefix_;
    store_ = std::make_unique<JobStore>(*conn_, o);
  }
  static JobRecord record(const std::string& id) {
    JobRecord r;
    r.job_id = id;
    r.model = "tiny";
    r.priority = schemas::Priority::kBatch;
    r.created_ms = 1000;
    return r;
  }
  static SubmitRequest request(const std::string& idem = "") {
    SubmitRequest s;
    s.model = "tiny";
    s.prompt = "hello";
    s.idempotency_key = idem;
    s.max_tokens = 7;
    return s;
  }
  std::unique_ptr<JobStore> store_;
};

// A create writes job_id, state and every field whose text differs from a default
// record's, in job_to_fields order (the rule the hash layout was defined by).
TEST(JobStoreFieldsTest, CreateWritesTheFieldsThatDifferFromADefaultRecord) {
  const auto expected_args = [](const JobRecord& r) {
    const auto defaults = job_to_fields(JobRecord{});
    const auto fields = job_to_fields(r);
    RedisCommand out;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].first == "job_id" || fields[i].first == "state" ||
          fields[i].second != defaults[i].second) {
        out.push_back(fields[i].first);
        out.push_back(fields[i].second);
      }
    }
    return out;
  };
  std::vector<JobRecord> records(4);
  records[1].job_id = "j-1";
  records[1].model = "tiny";
  records[1].created_ms = 1234;
  records[1].tenant = "t";
  records[1].detach = true;
  records[2] = records[1];
  records[2].state = JobState::kFailed;
  records[2].priority = schemas::Priority::kBatch;
  records[2].model_version = 3;
  records[2].worker = "w";
  records[2].device = 0;
  records[2].attempt = 2;
  records[2].usage = schemas::Usage{.prompt_tokens = 5, .completion_tokens = 6, .queue_ms = 1.5,
                                    .ttft_ms = -0.0, .decode_tps = 0.25};
  records[2].error_code = ErrorCode::kInternal;
  records[2].error = "e";
  records[2].dispatched_ms = 1;
  records[2].started_ms = 2;
  records[2].finished_ms = 3;
  records[2].api_meta = "{}";
  records[2].finish_reason = "error";
  records[3].usage.queue_ms = std::numeric_limits<double>::quiet_NaN();
  records[3].device = 7;
  for (const JobRecord& r : records) {
    RedisCommand got;
    append_record_fields(r, got);
    EXPECT_EQ(got, expected_args(r));
  }
}

TEST_F(JobStoreTest, CreateAndLoad) {
  auto c = store_->create(record("j1"), request());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->created);
  EXPECT_EQ(c->job_id, "j1");
  auto loaded = store_->load("j1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(*loaded, record("j1"));
  auto req = store_->load_request("j1");
  ASSERT_TRUE(req.ok()) << req.status().to_string();
  EXPECT_EQ(*req, request());
  EXPECT_EQ(store_->load("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(JobStoreTest, IdempotencyKeyReturnsTheFirstJob) {
  auto first = store_->create(record("j1"), request("key-1"));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(first->created);
  auto second = store_->create(record("j2"), request("key-1"));
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->job_id, "j1");
  EXPECT_EQ(store_->load("j2").status().code(), StatusCode::kNotFound);  // nothing written
  auto other = store_->create(record("j3"), request("key-2"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->created);
  auto found = store_->find_idempotent("key-1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->value_or(""), "j1");
  auto ttl = conn_->command({"TTL", store_->options().keys.idempotency("key-1")});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 0);
}

// A pipeline resent after its replies were lost applies its creates again: a keyed
// create finding the key naming its own job is that job (created), not a duplicate of it
// (the broker would otherwise drop the job from the live index and never run it).
TEST_F(JobStoreTest, AKeyedCreateAppliedAgainIsStillCreated) {
  for (int round = 0; round < 2; ++round) {
    auto replies = conn_->pipeline({store_->create_command(record("j1"), request("key-1"))});
    ASSERT_TRUE(replies.ok()) << replies.status().to_string();
    auto c = JobStore::parse_create_reply((*replies)[0], "j1");
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_TRUE(c->created) << "round " << round;
    EXPECT_EQ(c->job_id, "j1");
  }
  auto other = store_->create(record("j2"), request("key-1"));  // another job, same key
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->created);
  EXPECT_EQ(other->job_id, "j1");
}

TEST_F(JobStoreTest, FullLifecycleWithTimestampsAndUsage) {
  ASSERT_TRUE(store_->create(record("j"), request()).ok());
  Transition d{JobState::kDispatched, 1, "w1", 2, 2000, std::nullopt, ErrorCode::kOk, ""};
  ASSERT_TRUE(store_->transition("j", d).ok());
  ASSERT_TRUE(store_->transition("j", tr(JobState::kRunning, 1, "", -1, 2100)).ok());
  schemas::Usage u{5, 7, 1.5, 100.25, 33.5};
  Transition done{JobState::kSucceeded, 1, "", -1, 2500, u, ErrorCode::kOk, ""};
  ASSERT_TRUE(store_->transition("j", done).ok());
  auto r = store_->load("j");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kSucceeded);
  EXPECT_EQ(r->worker, "w1");
  EXPECT_EQ(r->device, 2);
  EXPECT_EQ(r->attempt, 1u);
  EXPECT_EQ(r->dispatched_ms, 2000u);
  EXPECT_EQ(r->started_ms, 2100u);
  EXPECT_EQ(r->finished_ms, 2500u);
  EXPECT_EQ(r->usage, u);
  // Terminal: nothing moves it any more.
  Status again = store_->transition("j", tr(JobState::kCancelled, 0, "", -1, 3000));
  EXPECT_EQ(again.code(), StatusCode::kInvalidArgument) << again.to_string();
}

// What SUBMIT brings for the gateway (api_meta, tenant, detach) is written at creation;
// finish_reason with the terminal transition, checked or not.
TEST_F(JobStoreTest, GatewayFieldsAndFinishReasonRoundTrip) {
  for (bool checked : {true, false}) {
    JobStoreOptions o = store_->options();
    o.checked_transitions = checked;
    JobStore store(*conn_, o);
    const std::string id = checked ? "checked" : "unchecked";
    JobRecord r = record(id);
    r.api_meta = R"({"object":"chat.completion","stream":true})";
    r.tenant = "acme";
    r.detach = true;
    SubmitRequest q = request();
    q.api_meta = r.api_meta;
    q.tenant = r.tenant;
    q.detach = true;
    ASSERT_TRUE(store.create(r, q).ok());
    auto loaded = store.load(id);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    EXPECT_EQ(*loaded, r);
    EXPECT_EQ(loaded->finish_reason, "");
    auto req = store.load_request(id);
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(*req, q);
    Transition d{JobState::kDispatched, 1, "w1", 0, 2000, std::nullopt, ErrorCode::kOk, ""};
    ASSERT_TRUE(store.transition(id, d).ok());
    Transition done{JobState::kSucceeded, 1,  "",      -1, 2500, schemas::Usage{},
                    ErrorCode::kOk,       "", "length"};
    ASSERT_TRUE(store.transition(id, done).ok());
    loaded = store.load(id);
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->finish_reason, "length");
    EXPECT_EQ(loaded->api_meta, r.api_meta);
    EXPECT_EQ(loaded->tenant, "acme");
    EXPECT_TRUE(loaded->detach);
  }
  // A default record writes none of them; a bad detach value is a corrupt hash.
  ASSERT_TRUE(store_->create(record("plain"), request()).ok());
  auto fields = conn_->command({"HKEYS", store_->options().keys.job("plain")});
  ASSERT_TRUE(fields.ok());
  for (const auto& f : fields->elements) {
    EXPECT_TRUE(f.str != "api_meta" && f.str != "tenant" && f.str != "detach" &&
                f.str != "finish_reason")
        << f.str;
  }
  ASSERT_TRUE(conn_->command({"HSET", store_->options().keys.job("plain"), "detach", "yes"}).ok());
  EXPECT_EQ(store_->load("plain").status().code(), StatusCode::kCorrupt);
}

TEST_F(JobStoreTest, IllegalTransitionsAndFencing) {
  ASSERT_TRUE(store_->create(record("j"), request()).ok());
  EXPECT_EQ(store_->transition("j", tr(JobState::kRunning, 1, "", -1, 1)).code(),
            StatusCode::kInvalidArgument);  // QUEUED -> RUNNING
  EXPECT_EQ(store_->transition("missing", tr(JobState::kRunning)).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->transition("j", tr(JobState::kDispatched, 1, "w1", 0, 10)).ok());
  // Worker lost: back to QUEUED, then attempt 2 on another worker.
  ASSERT_TRUE(store_->transition("j", tr(JobState::kQueued, 1, "", -1, 20)).ok());
  ASSERT_TRUE(store_->transition("j", tr(JobState::kDispatched, 2, "w2", 1, 30)).ok());
  // A message from attempt 1 is fenced off.
  Status stale = store_->transition("j", tr(JobState::kRunning, 1, "", -1, 40));
  EXPECT_EQ(stale.code(), StatusCode::kCancelled) << stale.to_string();
  ASSERT_TRUE(store_->transition("j", tr(JobState::kRunning, 2, "", -1, 40)).ok());
  Transition fail{JobState::kFailed, 2, "", -1, 50, std::nullopt, ErrorCode::kMaxAttempts, "gave up"};
  ASSERT_TRUE(store_->transition("j", fail).ok());
  auto r = store_->load("j");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kFailed);
  EXPECT_EQ(r->attempt, 2u);
  EXPECT_EQ(r->worker, "w2");
  EXPECT_EQ(r->error_code, ErrorCode::kMaxAttempts);
  EXPECT_EQ(r->error, "gave up");
}

TEST_F(JobStoreTest, CancelQueuedJob) {
  ASSERT_TRUE(store_->create(record("j"), request()).ok());
  Transition c{JobState::kCancelled, 0, "", -1, 5, std::nullopt, ErrorCode::kCancelled, "by client"};
  ASSERT_TRUE(store_->transition("j", c).ok());
  EXPECT_EQ(store_->load("j")->state, JobState::kCancelled);
}

TEST_F(JobStoreTest, DeadLetters) {
  ASSERT_TRUE(store_->push_dead_letter("a").ok());
  ASSERT_TRUE(store_->push_dead_letter("b").ok());
  auto dl = store_->dead_letters();
  ASSERT_TRUE(dl.ok());
  EXPECT_EQ(*dl, (std::vector<std::string>{"b", "a"}));
}

// Every 10th job carries key k<i/20>: k0,k0,k1,k1,... (GCC 12 warns falsely on "k" + s).
std::string idem_key(int i) {
  if (i % 10 != 0) return {};
  std::string k = "k";
  k += std::to_string(i / 20);
  return k;
}

TEST_F(JobStoreTest, PipelinedCreatesAndTransitions) {
  std::vector<RedisCommand> cmds;
  for (int i = 0; i < 100; ++i) {
    std::string id = "p";
    id += std::to_string(i);
    cmds.push_back(store_->create_command(record(id), request(idem_key(i))));
    cmds.push_back(store_->transition_command(id, tr(JobState::kDispatched, 1, "w", 0, 9)));
  }
  auto replies = conn_->pipeline(cmds);
  ASSERT_TRUE(replies.ok());
  int created = 0;
  for (int i = 0; i < 100; ++i) {
    std::string id = "p";
    id += std::to_string(i);
    auto c = JobStore::parse_create_reply((*replies)[2 * i], id);
    ASSERT_TRUE(c.ok());
    created += c->created;
    Status t = JobStore::parse_transition_reply((*replies)[2 * i + 1], id, JobState::kDispatched);
    EXPECT_EQ(t.ok(), c->created) << id << " " << t.to_string();
  }
  EXPECT_EQ(created, 95);  // keys k0,k0,k1,k1,k2,k2,k3,k3,k4,k4: 5 duplicates
}

TEST_F(JobStoreTest, UncheckedTransitionsArePlainWrites) {
  JobStoreOptions o = store_->options();
  o.checked_transitions = false;
  JobStore fast(*conn_, o);
  ASSERT_TRUE(fast.create(record("j"), request()).ok());
  ASSERT_TRUE(fast.transition("j", tr(JobState::kDispatched, 1, "w", 3, 10)).ok());
  ASSERT_TRUE(fast.transition("j", tr(JobState::kRunning, 1, "", -1, 11)).ok());
  auto r = fast.load("j");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kRunning);
  EXPECT_EQ(r->device, 3);
  EXPECT_EQ(r->started_ms, 11u);
}

TEST_F(JobStoreTest, RedisDownIsAClearError) {
  server_->stop();
  auto c = store_->create(record("j"), request());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->load("j").status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server_->start());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto again = store_->create(record("j"), request());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
}

}  // namespace
}  // namespace rs::store
