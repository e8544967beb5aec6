// The broker's ingest stream and batch results: entries become jobs (once), are acked only
// with their job stored, stale entries are claimed, invalid ones fail with a result line.
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "broker_fixture.h"
#include "rs/store/batch_streams.h"

namespace rs::broker::testing {
namespace {

using store::BatchResult;
using store::IngestItem;

class BrokerIngestTest : public BrokerLoopTest {
 protected:
  void SetUp() override {
    BrokerLoopTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    keys_.prefix = std::string("i").append(std::to_string(std::random_device{}())).append(":");
    conn_ = std::make_unique<store::RedisConnection>(store::RedisOptions{.port = redis_.port()});
    store::JobStoreOptions js;
    js.keys = keys_;
    store_ = std::make_unique<store::JobStore>(*conn_, js);
    store::IngestOptions io;
    io.keys = keys_;
    io.consumer = "producer";
    ingest_ = std::make_unique<store::IngestStream>(*conn_, io);
    results_ = std::make_unique<store::BatchResults>(*conn_, keys_);
  }
  // Like start_broker_with, but on this test's prefix (entries may be appended before).
  void start(BrokerOptions o) {
    o.redis.port = redis_.port();
    o.key_prefix = keys_.prefix;
    o.max_queued = 1000;
    loop_ = std::make_unique<BrokerLoop>(ctx_, o);
    ASSERT_TRUE(loop_->bind().ok());
    thread_ = std::thread([this] { run_status_ = loop_->run(); });
  }
  static BrokerOptions options() {
    BrokerOptions o;
    o.heartbeat_ms = 200;  // unknown models wait 3 beats at start
    o.ingest_poll_ms = 5;
    return o;
  }
  std::string append(const std::string& batch, const std::string& id, const std::string& prompt = "p") {
    IngestItem it;
    it.batch = batch;
    it.item_id = id;
    it.request.model = "m";
    it.request.prompt = prompt;
    it.request.max_tokens = 8;
    auto r = ingest_->append(it);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::string();
  }
  void append_raw(const store::StreamFields& fields) {
    store::RedisCommand cmd{"XADD", keys_.ingest(), "*"};
    for (const auto& [f, v] : fields) cmd.insert(cmd.end(), {f, v});
    auto r = conn_->command(cmd);
    ASSERT_TRUE(r.ok() && r->is_string());
  }
  // Answers every DISPATCH with `pieces` as tokens (split in two messages) and a DONE,
  // until `n` jobs are served or nothing comes for a while. Returns the dispatches.
  static std::vector<sc::Dispatch> serve(Peer& w, size_t n, const std::vector<std::string>& pieces) {
    std::vector<sc::Dispatch> out;
    while (out.size() < n) {
      auto m = w.recv(3000);
      if (!m) break;
      auto* d = std::get_if<sc::Dispatch>(&*m);
      if (d == nullptr) continue;
      std::vector<sc::TokenEntry> entries;
      for (size_t i = 0; i < pieces.size(); ++i) {
        entries.push_back(sc::TokenEntry{.job_id = d->job_id, .attempt = d->attempt, .seq = i,
                                         .token = static_cast<int32_t>(i), .text = pieces[i]});
      }
      const size_t half = entries.size() / 2;
      w.send(sc::WorkerTokens{.entries = {entries.begin(), entries.begin() + half}});
      w.send(sc::WorkerTokens{.entries = {entries.begin() + half, entries.end()}});
      w.send(sc::WorkerDone{.job_id = d->job_id, .attempt = d->attempt, .device = d->device,
                            .usage = {.prompt_tokens = 1, .completion_tokens = static_cast<uint32_t>(pieces.size())},
                            .finish_reason = "stop"});
      out.push_back(*d);
    }
    return out;
  }
  template <typename F>
  static bool eventually(F&& f, int timeout_ms = 5000) {
    for (int waited = 0; waited < timeout_ms; waited += 5) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return f();
  }
  std::vector<BatchResult> all_results(const std::string& batch) {
    EXPECT_TRUE(results_->ensure_group(batch, "t").ok());
    std::vector<BatchResult> out;
    for (;;) {
      auto r = results_->read(batch, "t", "c", 1000, 0);
      EXPECT_TRUE(r.ok()) << r.status().to_string();
      if (!r.ok() || r->empty()) return out;
      out.insert(out.end(), r->begin(), r->end());
    }
  }
  std::string job_of(const std::string& idempotency_key) {
    auto id = store_->find_idempotent(idempotency_key);
    return id.ok() && id->has_value() ? **id : std::string();
  }
  std::string hget(const std::string& key, const std::string& field) {
    auto r = conn_->command({"HGET", key, field});
    return r.ok() && r->is_string() ? r->str : std::string();
  }
  int64_t ttl(const std::string& key) {
    auto r = conn_->command({"TTL", key});
    return r.ok() && r->is_integer() ? r->integer : -100;
  }
  uint64_t pending() {
    auto p = ingest_->pending();
    return p.ok() ? *p : 999;
  }
  uint64_t n_results(const std::string& batch) {
    auto n = results_->length(batch);
    return n.ok() ? *n : 0;
  }

  std::unique_ptr<store::IngestStream> ingest_;
  std::unique_ptr<store::BatchResults> results_;
};

TEST_F(BrokerIngestTest, EntriesAppendedBeforeTheBrokerAllRunOnce) {
  for (int i = 1; i <= 50; ++i) append("b1", std::to_string(i), "prompt " + std::to_string(i));
  BrokerOptions o = options();
  o.ingest_claim_ms = 100;  // claims (and trims) every 50 ms
  start(o);
  auto w = worker("w1", 64);
  auto served = serve(*w, 50, {"a", "b", "c"});
  ASSERT_EQ(served.size(), 50u);
  std::set<std::string> prompts;
  for (const auto& d : served) {
    prompts.insert(d.request.prompt);
    EXPECT_EQ(d.request.priority, sc::Priority::kBatch);
  }
  EXPECT_EQ(prompts.size(), 50u);
  ASSERT_TRUE(eventually([&] { return n_results("b1") == 50; }));
  EXPECT_EQ(pending(), 0u);
  std::set<std::string> ids;
  for (const auto& r : all_results("b1")) {
    ids.insert(r.item_id);
    EXPECT_EQ(r.record.state, sc::JobState::kSucceeded);
    EXPECT_EQ(r.text, "abc");
    EXPECT_EQ(r.record.usage.completion_tokens, 3u);
    EXPECT_EQ(job_of("ingest:b1:" + r.item_id), r.record.job_id);
  }
  EXPECT_EQ(ids.size(), 50u);
  const std::string job = job_of("ingest:b1:7");
  auto rec = store_->load(job);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->state, sc::JobState::kSucceeded);
  EXPECT_EQ(rec->priority, sc::Priority::kBatch);
  EXPECT_EQ(hget(keys_.job(job), "batch"), "b1");
  EXPECT_EQ(hget(keys_.job(job), "item_id"), "7");
  EXPECT_EQ(store_->load_request(job)->prompt, "prompt 7");
  EXPECT_EQ(ttl(keys_.job(job)), -1);  // no --finished-ttl-s: kept
  EXPECT_EQ(loop_->counters().ingested.load(), 50u);
  // Acknowledged entries are trimmed (the last delivered one may stay).
  ASSERT_TRUE(eventually([&] {
    auto n = ingest_->length();
    return n.ok() && *n <= 1 && loop_->counters().ingest_trimmed.load() >= 49;
  }));
}

TEST_F(BrokerIngestTest, StaleEntriesOfADeadBrokerAreClaimedIntoOneJobEach) {
  const std::string lost = append("b2", "lost");
  const std::string stored = append("b2", "stored");
  {  // a "dead" broker read both and acked neither; it had stored the job of the second
    store::IngestOptions io;
    io.keys = keys_;
    io.consumer = "dead";
    store::IngestStream dead(*conn_, io);
    ASSERT_TRUE(dead.ensure_group().ok());
    ASSERT_EQ(dead.read(10)->size(), 2u);
    sc::SubmitRequest req;
    req.model = "m";
    req.prompt = "p";
    req.idempotency_key = "ingest:b2:stored";
    sc::JobRecord old;
    old.job_id = "old-job";
    old.model = "m";
    ASSERT_TRUE(store_->create(old, req).ok());
  }
  BrokerOptions o = options();
  o.ingest_claim_ms = 100;
  start(o);
  auto w = worker("w1", 8);
  // The stored job is live (QUEUED) in Redis: the new broker recovers and runs it; the
  // lost entry becomes a job of its own. Nothing else.
  auto served = serve(*w, 2, {"x"});
  ASSERT_EQ(served.size(), 2u);
  std::set<std::string> ran = {served[0].job_id, served[1].job_id};
  EXPECT_EQ(ran, (std::set<std::string>{"old-job", job_of("ingest:b2:lost")}));
  ASSERT_TRUE(eventually([&] { return pending() == 0; }));
  EXPECT_GE(loop_->counters().ingest_claimed.load(), 2u);
  EXPECT_EQ(loop_->counters().recovered.load(), 1u);
  EXPECT_EQ(job_of("ingest:b2:stored"), "old-job");
  EXPECT_FALSE(w->recv(300).has_value());  // no second job for the stored one
  auto keys = conn_->command({"KEYS", keys_.prefix + "job:*"});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->elements.size(), 2u);
  ASSERT_TRUE(eventually([&] { return n_results("b2") == 1; }));
  auto results = all_results("b2");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].item_id, "lost");
  EXPECT_EQ(results[0].text, "x");
}

TEST_F(BrokerIngestTest, OwnPendingEntriesOfAPreviousLifeAreTakenAtOnce) {
  append("b6", "mine");
  {  // this broker's id read it before it died (no claim delay for its own entries)
    store::IngestOptions io;
    io.keys = keys_;
    io.consumer = "b-1";
    store::IngestStream previous(*conn_, io);
    ASSERT_TRUE(previous.ensure_group().ok());
    ASSERT_EQ(previous.read(10)->size(), 1u);
  }
  BrokerOptions o = options();
  o.broker_id = "b-1";  // ingest_claim_ms stays 30 s
  start(o);
  auto w = worker("w1", 8);
  ASSERT_EQ(serve(*w, 1, {"y"}).size(), 1u);
  ASSERT_TRUE(eventually([&] { return n_results("b6") == 1; }));
  EXPECT_EQ(pending(), 0u);
  EXPECT_EQ(loop_->counters().ingest_claimed.load(), 0u);
}

TEST_F(BrokerIngestTest, InvalidEntriesFailAtOnceWithAResultLine) {
  start(options());
  auto w = worker("w1", 8);
  append_raw({{"batch", "b3"}, {"id", "noprompt"}, {"model", "m"}});
  append_raw({{"batch", "b3"}, {"id", "nomodel"}, {"model", "zzz"}, {"prompt", "p"}});
  append_raw({{"batch", "b3"}, {"id", "badvalue"}, {"model", "m"}, {"prompt", "p"}, {"max_tokens", "x"}});
  append_raw({{"batch", "b3"}, {"id", "zero"}, {"model", "m"}, {"prompt", "p"}, {"max_tokens", "0"}});
  append_raw({{"batch", "b3"}, {"id", "bad id!"}, {"model", "m"}, {"prompt", "p"}});
  ASSERT_TRUE(eventually([&] { return n_results("b3") == 5; }));
  EXPECT_TRUE(eventually([&] { return pending() == 0; }));
  std::map<std::string, BatchResult> by_id;
  for (auto& r : all_results("b3")) by_id[r.item_id] = r;
  ASSERT_EQ(by_id.size(), 5u);
  EXPECT_EQ(by_id["noprompt"].record.error_code, sc::ErrorCode::kInvalidArgument);
  EXPECT_EQ(by_id["nomodel"].record.error_code, sc::ErrorCode::kUnknownModel);
  EXPECT_EQ(by_id["badvalue"].record.error_code, sc::ErrorCode::kInvalidArgument);
  EXPECT_EQ(by_id["zero"].record.error_code, sc::ErrorCode::kInvalidArgument);
  EXPECT_EQ(by_id["bad id!"].record.error_code, sc::ErrorCode::kInvalidArgument);
  for (auto& [id, r] : by_id) {
    EXPECT_EQ(r.record.state, sc::JobState::kFailed) << id;
    EXPECT_FALSE(r.record.error.empty()) << id;
    auto rec = store_->load(r.record.job_id);
    ASSERT_TRUE(rec.ok()) << id;
    EXPECT_EQ(rec->state, sc::JobState::kFailed);
  }
  EXPECT_FALSE(w->recv(200).has_value());  // nothing was dispatched
}

TEST_F(BrokerIngestTest, BatchResultCarriesTheWholeTextOnceAndFinishedJobsExpire) {
  BrokerOptions o = options();
  o.finished_ttl_s = 100;
  start(o);
  auto w = worker("w1", 8);
  append("b4", "one");
  IngestItem loose;  // not part of a batch: a job, no results stream
  loose.request.model = "m";
  loose.request.prompt = "loose";
  const std::string loose_entry = ingest_->append(loose).value();
  auto served = serve(*w, 2, {"Hel", "lo, ", "wor", "ld"});
  ASSERT_EQ(served.size(), 2u);
  ASSERT_TRUE(eventually([&] { return n_results("b4") == 1; }));
  ASSERT_TRUE(eventually([&] { return pending() == 0; }));
  auto results = all_results("b4");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].text, "Hello, world");
  EXPECT_EQ(results[0].record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(results[0].record.attempt, 1u);
  EXPECT_EQ(results[0].record.model, "m");
  const std::string job = results[0].record.job_id;
  const std::string loose_job = job_of("ingest:" + loose_entry);
  ASSERT_FALSE(loose_job.empty());
  ASSERT_TRUE(eventually([&] { return store_->load(loose_job).ok() &&
                                      store_->load(loose_job)->state == sc::JobState::kSucceeded; }));
  for (const std::string& j : {job, loose_job}) {
    int64_t t = ttl(keys_.job(j));
    EXPECT_GT(t, 0) << j;
    EXPECT_LE(t, 100) << j;
    EXPECT_GT(ttl(keys_.tokens(j)), 0) << j;
  }
  EXPECT_EQ(loop_->counters().batch_results.load(), 1u);
  EXPECT_FALSE(w->recv(200).has_value());
  EXPECT_EQ(n_results("b4"), 1u);  // once
}

TEST_F(BrokerIngestTest, DeadLetteredJobsDoNotExpire) {
  BrokerOptions o = options();
  o.finished_ttl_s = 100;
  o.max_attempts = 1;
  start(o);
  auto w = worker("w1", 8);
  append("b5", "poison");
  auto m = w->recv(3000);
  ASSERT_TRUE(m.has_value());
  auto* d = std::get_if<sc::Dispatch>(&*m);
  ASSERT_NE(d, nullptr);
  w->send(sc::WorkerFailed{.job_id = d->job_id, .attempt = d->attempt, .device = d->device,
                           .code = sc::ErrorCode::kWorkerLost, .message = "engine failed"});
  ASSERT_TRUE(eventually([&] { return n_results("b5") == 1; }));
  auto results = all_results("b5");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].record.state, sc::JobState::kFailed);
  EXPECT_EQ(results[0].record.error_code, sc::ErrorCode::kMaxAttempts);
  EXPECT_EQ(ttl(keys_.job(d->job_id)), -1);
  auto dead = store_->dead_letters();
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, std::vector<std::string>{d->job_id});
}

// A broker dies with two jobs on w1; a new one on the same Redis recovers both. w1's READY
// lists one (with its tokens resent from seq 0): adopted, it ends on attempt 1 with its
// whole text; the other is requeued after --recovery-wait-ms with attempt 2.
TEST_F(BrokerIngestTest, ARestartedBrokerAdoptsListedJobsAndRequeuesTheRest) {
  append("b9", "a");
  append("b9", "b");
  BrokerOptions o = options();
  o.recovery_wait_ms = 300;
  start(o);
  auto w = worker("w1", 8);
  std::vector<sc::Dispatch> ds;
  while (ds.size() < 2) ds.push_back(w->expect<sc::Dispatch>(3000));
  const sc::Dispatch& kept = ds[0];
  const sc::Dispatch& lost = ds[1];
  w->send(sc::WorkerTokens{.entries = {sc::TokenEntry{.job_id = kept.job_id, .attempt = 1, .seq = 0,
                                                      .token = 1, .text = "x"}}});
  ASSERT_TRUE(eventually([&] { return loop_->counters().tokens.load() == 1; }));
  loop_->request_stop();  // the broker "dies": nothing ends its jobs
  thread_.join();
  loop_.reset();
  w.reset();

  start(o);
  auto w2 = std::make_unique<Peer>(ctx_, loop_->worker_endpoint(), "w1");
  w2->set_skip_heartbeats(false);
  w2->send(sc::WorkerReady{.worker_id = "w1",
                           .devices = {sc::DeviceInfo{.index = 0, .models = {"m"}, .free_slots = 7, .max_slots = 8}},
                           .jobs = {sc::ReadyJob{.job_id = kept.job_id, .attempt = 1, .device = 0, .n_tokens = 2}}});
  w2->expect<sc::BrokerHeartbeat>();
  w2->set_skip_heartbeats(true);
  w2->send(sc::WorkerTokens{.entries = {
               sc::TokenEntry{.job_id = kept.job_id, .attempt = 1, .seq = 0, .token = 1, .text = "x"},
               sc::TokenEntry{.job_id = kept.job_id, .attempt = 1, .seq = 1, .token = 2, .text = "y"}}});
  w2->send(sc::WorkerDone{.job_id = kept.job_id, .attempt = 1, .device = 0, .finish_reason = "length"});
  auto again = w2->expect<sc::Dispatch>(3000);
  EXPECT_EQ(again.job_id, lost.job_id);
  EXPECT_EQ(again.attempt, 2u);
  w2->send(sc::WorkerDone{.job_id = again.job_id, .attempt = 2, .device = 0, .finish_reason = "length"});
  ASSERT_TRUE(eventually([&] { return n_results("b9") == 2; }));
  for (const BatchResult& r : all_results("b9")) {
    EXPECT_EQ(r.record.state, sc::JobState::kSucceeded) << r.item_id;
    if (r.record.job_id == kept.job_id) {
      EXPECT_EQ(r.text, "xy") << "the adopted job's text is whole";
      EXPECT_EQ(r.record.attempt, 1u);
    } else {
      EXPECT_EQ(r.record.attempt, 2u);
    }
  }
  EXPECT_EQ(loop_->counters().recovered.load(), 2u);
  EXPECT_EQ(loop_->counters().adopted.load(), 1u);
  auto live = conn_->command({"ZCARD", keys_.live()});
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->integer, 0);
}

// A batch job whose worker died with the broker: the new broker requeues it with its
// logged tokens, so the new attempt resumes after them and the result's text is whole.
TEST_F(BrokerIngestTest, ARestartedBrokerRebuildsABatchJobsTextFromItsLog) {
  append("b10", "a");
  BrokerOptions o = options();
  o.recovery_wait_ms = 200;
  start(o);
  auto w = worker("w1", 8);
  const sc::Dispatch first = w->expect<sc::Dispatch>(3000);
  w->send(sc::WorkerTokens{.entries = {
              sc::TokenEntry{.job_id = first.job_id, .attempt = 1, .seq = 0, .token = 7, .text = "x"},
              sc::TokenEntry{.job_id = first.job_id, .attempt = 1, .seq = 1, .token = 8, .text = "y"}}});
  store::TokenLogOptions tl;
  tl.keys = keys_;
  store::TokenLog log(*conn_, tl);
  ASSERT_TRUE(eventually([&] {
    auto r = log.read(first.job_id, 0);
    return r.ok() && r->entries.size() == 2;
  }));
  loop_->request_stop();  // the broker and its worker die: nothing ends the job
  thread_.join();
  loop_.reset();
  w.reset();

  start(o);
  auto w2 = worker("w2", 8);
  const sc::Dispatch again = w2->expect<sc::Dispatch>(3000);
  EXPECT_EQ(again.job_id, first.job_id);
  EXPECT_EQ(again.attempt, 2u);
  EXPECT_EQ(again.resume_tokens, (std::vector<int32_t>{7, 8}));
  w2->send(sc::WorkerTokens{.entries = {sc::TokenEntry{.job_id = again.job_id, .attempt = 2,
                                                       .seq = 2, .token = 9, .text = "z"}}});
  w2->send(sc::WorkerDone{.job_id = again.job_id, .attempt = 2, .device = 0, .finish_reason = "length"});
  ASSERT_TRUE(eventually([&] { return n_results("b10") == 1; }));
  auto results = all_results("b10");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(results[0].record.attempt, 2u);
  EXPECT_EQ(results[0].text, "xyz") << "the logged pieces, then the new attempt's";
}

}  // namespace
}  // namespace rs::broker::testing
