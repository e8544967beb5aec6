// WorkerLoop against a scripted broker (a bare ROUTER in the test): READY and heartbeat
// contents, typed refusals (unknown device/model, prompt too long, bad sampling), garbage
// ignored, CANCEL_JOB fenced by attempt, BROKER_DISCONNECT -> READY again, a silent broker
// -> a new socket and READY, a DISPATCH with resume tokens continuing the log. Also the
// engine-error classification on real engine errors.
#include "rs/worker/io/worker_loop.h"

#include <gtest/gtest.h>

#include <atomic>

#include "fake_broker_router.h"
#include "rs/worker/io/job_mapping.h"
#include "worker_fixture.h"

namespace rs::worker::io::testing {
namespace {

constexpr const char* kWorkerId = "w-proto";

using rs::test::FakeBrokerRouter;

class WorkerProtocolTest : public ScriptedBrokerTest {
 protected:
  WorkerProtocolTest() : ScriptedBrokerTest(kWorkerId) {}
  void SetUp() override { load_model(); }
  void start(int devices, int64_t heartbeat_ms, std::function<void(int)> before_step = {}) {
    WorkerOptions o = worker_options(devices, heartbeat_ms);
    o.before_step = std::move(before_step);
    start_worker(std::move(o));
  }
  // A worker whose engine waits while `open` is false, holding job j-old (attempt 1, device
  // 0), then told by BROKER_DISCONNECT to READY again: that READY in *again.
  void ready_again_holding_a_job(std::atomic<bool>& open, std::optional<sc::WorkerReady>* again) {
    start(1, 1000, [&open](int) {
      while (!open.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    register_worker();
    broker_.send(dispatch("j-old", 0, 8));  // 8 steps (past EOS): a CANCEL_JOB sent now lands
    ASSERT_TRUE(wait_until([this] { return worker_->counters().dispatches.load() == 1; }));
    broker_.send(sc::BrokerDisconnect{.reason = "unknown worker: send READY"});
    *again = broker_.next<sc::WorkerReady>();
    ASSERT_TRUE(again->has_value());
  }
};

TEST_F(WorkerProtocolTest, ReadyAndHeartbeatsDescribeEveryDevice) {
  start(2, 50);
  sc::WorkerReady ready = register_worker().value_or(sc::WorkerReady{});
  EXPECT_EQ(ready.worker_id, kWorkerId);
  EXPECT_EQ(ready.heartbeat_interval_ms, 50u);
  ASSERT_EQ(ready.devices.size(), 2u);
  for (int d = 0; d < 2; ++d) {
    EXPECT_EQ(ready.devices[d].index, d);
    EXPECT_EQ(ready.devices[d].models, std::vector<std::string>{"tiny"});
    EXPECT_EQ(ready.devices[d].max_slots, 16u);
    EXPECT_EQ(ready.devices[d].free_slots, 16u);
  }
  auto beat = broker_.next<sc::WorkerHeartbeat>();
  ASSERT_TRUE(beat.has_value());
  EXPECT_EQ(beat->worker_id, kWorkerId);
  ASSERT_EQ(beat->devices.size(), 2u);
  for (const sc::DeviceLoad& l : beat->devices) {
    EXPECT_EQ(l.free_slots, 16u);
    EXPECT_EQ(l.running, 0u);
    EXPECT_GT(l.kv_blocks_total, 0u);
    EXPECT_EQ(l.kv_blocks_free, l.kv_blocks_total);
    EXPECT_TRUE(l.has_models);
    EXPECT_EQ(l.models, std::vector<std::string>{"tiny"});
  }
}

TEST_F(WorkerProtocolTest, RefusesWhatItCannotRunAndKeepsServing) {
  start(1, 1000);
  register_worker();
  broker_.send_raw({"garbage"});
  broker_.send_raw({sc::header_frame(), std::string(1, '\x7f'), "x"});
  broker_.send(dispatch("j-device", 3));
  auto f = broker_.next<sc::WorkerFailed>();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->job_id, "j-device");
  EXPECT_EQ(f->code, sc::ErrorCode::kInvalidArgument);

  sc::Dispatch other = dispatch("j-model", 0);
  other.request.model = "other";
  broker_.send(other);
  f = broker_.next<sc::WorkerFailed>();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->code, sc::ErrorCode::kModelUnavailable);

  sc::Dispatch long_prompt = dispatch("j-long", 0);
  long_prompt.request.prompt.clear();
  for (int i = 0; i < 1500; ++i) long_prompt.request.prompt += static_cast<char>('a' + (i * 7) % 26);
  broker_.send(long_prompt);
  f = broker_.next<sc::WorkerFailed>();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->job_id, "j-long");
  EXPECT_EQ(f->attempt, 1u);
  EXPECT_EQ(f->code, sc::ErrorCode::kPromptTooLong) << f->message;

  sc::Dispatch bad_sampling = dispatch("j-sampling", 0);
  bad_sampling.request.sampling.top_p = 0.0f;  // on the wire 0..1; the engine wants (0, 1]
  broker_.send(bad_sampling);
  f = broker_.next<sc::WorkerFailed>();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->job_id, "j-sampling");
  EXPECT_EQ(f->code, sc::ErrorCode::kInvalidArgument) << f->message;

  broker_.send(dispatch("j-ok", 0, 6));
  broker_.send(sc::CancelJob{.job_id = "j-ok", .attempt = 7, .device = 0});  // other attempt
  auto done = broker_.next<sc::WorkerDone>();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job_id, "j-ok");
  EXPECT_EQ(done->attempt, 1u);
  EXPECT_EQ(done->device, 0);
  EXPECT_NE(done->finish_reason, "cancelled");
  EXPECT_EQ(done->usage.completion_tokens, broker_.n_tokens);
  EXPECT_GT(done->usage.prompt_tokens, 0u);
  EXPECT_GE(worker_->counters().bad_messages.load(), 2u);
  EXPECT_EQ(worker_->counters().cancels_ignored.load(), 1u);
}

TEST_F(WorkerProtocolTest, BrokerDisconnectMeansReadyAgainOnce) {
  start(1, 1000);
  register_worker();
  broker_.send(sc::BrokerDisconnect{.reason = "unknown worker: send READY"});
  auto again = broker_.next<sc::WorkerReady>();
  ASSERT_TRUE(again.has_value());
  // A second one answers a message sent before that READY: no third READY.
  broker_.send(sc::BrokerDisconnect{.reason = "unknown worker: send READY"});
  broker_.send(sc::BrokerHeartbeat{.broker_time_ms = 2});
  broker_.send(dispatch("j-after", 0, 4));
  ASSERT_TRUE(broker_.next<sc::WorkerDone>().has_value());
  EXPECT_EQ(worker_->counters().ready_sent.load(), 2u);
  EXPECT_TRUE(worker_->registered());
}

TEST_F(WorkerProtocolTest, ReadyAgainListsTheJobsInFlightWhichCarryOn) {
  std::atomic<bool> open{false};
  std::optional<sc::WorkerReady> again;
  ASSERT_NO_FATAL_FAILURE(ready_again_holding_a_job(open, &again));
  ASSERT_EQ(again->jobs.size(), 1u) << "a restarted broker adopts what the worker lists";
  EXPECT_EQ(again->jobs[0].job_id, "j-old");
  EXPECT_EQ(again->jobs[0].attempt, 1u);
  EXPECT_EQ(again->jobs[0].device, 0);
  // (counted by the worker thread just after the send)
  EXPECT_TRUE(wait_until([this] { return worker_->counters().jobs_held.load() == 1; }));
  broker_.send(sc::BrokerHeartbeat{.broker_time_ms = 2});  // adopted: nothing to cancel
  open.store(true);
  auto done = broker_.next<sc::WorkerDone>();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job_id, "j-old");
  EXPECT_EQ(done->attempt, 1u);
  EXPECT_NE(done->finish_reason, "cancelled");
}

TEST_F(WorkerProtocolTest, AListedJobTheBrokerDoesNotAdoptIsCancelled) {
  std::atomic<bool> open{false};
  std::optional<sc::WorkerReady> again;
  ASSERT_NO_FATAL_FAILURE(ready_again_holding_a_job(open, &again));
  broker_.send(sc::CancelJob{.job_id = "j-old", .attempt = 1, .device = 0});
  ASSERT_TRUE(wait_until([this] { return worker_->counters().cancels_applied.load() == 1; }));
  open.store(true);
  auto done = broker_.next<sc::WorkerDone>();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job_id, "j-old");
  EXPECT_EQ(done->finish_reason, "cancelled");
}

TEST_F(WorkerProtocolTest, ASilentBrokerGetsANewSocketAndReady) {
  start(1, 50);
  register_worker();
  // No broker message for 3 intervals: the worker recreates its socket and READYs again.
  ASSERT_TRUE(broker_.next<sc::WorkerReady>().has_value());
  EXPECT_GE(worker_->counters().reconnects.load(), 1u);
  broker_.send(sc::BrokerHeartbeat{.broker_time_ms = 3});
  EXPECT_TRUE(wait_until([this] { return worker_->registered(); }));
}

// A job's TOKENS entries (in order) and its WORKER_DONE, for one dispatch run alone.
struct ResumeAttempt {
  std::vector<sc::TokenEntry> entries;
  std::optional<sc::WorkerDone> done;
};

ResumeAttempt run_attempt(FakeBrokerRouter& broker, const sc::Dispatch& d) {
  broker.send(d);
  ResumeAttempt a;
  for (sc::Message& m : broker.until<sc::WorkerDone>(20000)) {
    if (auto* t = std::get_if<sc::WorkerTokens>(&m)) {
      for (sc::TokenEntry& e : t->entries) {
        if (e.job_id == d.job_id && e.attempt == d.attempt) a.entries.push_back(std::move(e));
      }
    } else if (auto* done = std::get_if<sc::WorkerDone>(&m)) {
      a.done = *done;
    }
  }
  return a;
}

// Resume from the log: a DISPATCH carrying the first k tokens of an uninterrupted run gets
// TOKENS from seq k on equal to that run's tail (ids, texts, logprobs, alternatives), and a
// WORKER_DONE whose usage counts every completion token; k = n ends at once with no tokens.
// The prompt's logprobs ride on seq 0 only: a resume from k > 0 never sends them again.
TEST_F(WorkerProtocolTest, DispatchWithResumeTokensContinuesTheLog) {
  start(1, 1000);
  register_worker();
  sc::Dispatch d = dispatch("j-full", 0, 12);
  d.request.prompt = "Once upon a time";
  d.request.sampling.temperature = 0.8f;
  d.request.sampling.top_k = 40;
  d.request.sampling.seed = 5;
  d.request.ignore_eos = true;
  d.request.top_logprobs = 3;
  d.request.prompt_logprobs = true;
  d.request.prompt_top_logprobs = 2;
  const ResumeAttempt full = run_attempt(broker_, d);
  ASSERT_EQ(full.entries.size(), 12u);
  ASSERT_GE(full.entries[0].prompt.size(), 2u);
  EXPECT_EQ(full.entries[0].prompt[0].logprob, 0.0f);  // position 0: none
  EXPECT_TRUE(full.entries[0].prompt[0].top.empty());
  for (size_t p = 1; p < full.entries[0].prompt.size(); ++p) {
    EXPECT_EQ(full.entries[0].prompt[p].top.size(), 2u);
    EXPECT_LE(full.entries[0].prompt[p].logprob, 0.0f);
  }
  for (const sc::TokenEntry& e : full.entries) {
    ASSERT_EQ(e.top.size(), 3u);
    if (e.seq > 0) {
      EXPECT_TRUE(e.prompt.empty());
    }
  }
  ASSERT_TRUE(full.done.has_value());
  EXPECT_EQ(full.done->usage.completion_tokens, 12u);
  for (size_t k : {0, 1, 5, 11, 12}) {
    SCOPED_TRACE("resumed at " + std::to_string(k));
    sc::Dispatch again = d;
    again.job_id = "j-resume-" + std::to_string(k);
    if (k == 5) {  // the same job re-dispatched: a new attempt
      again.job_id = d.job_id;
      again.attempt = 2;
    }
    for (size_t i = 0; i < k; ++i) again.resume_tokens.push_back(full.entries[i].token);
    const ResumeAttempt tail = run_attempt(broker_, again);
    ASSERT_EQ(tail.entries.size(), 12 - k);
    for (size_t i = 0; i < tail.entries.size(); ++i) {
      const sc::TokenEntry& want = full.entries[k + i];
      EXPECT_EQ(tail.entries[i].seq, k + i);
      EXPECT_EQ(tail.entries[i].token, want.token) << i;
      EXPECT_EQ(tail.entries[i].text, want.text) << i;
      EXPECT_NEAR(tail.entries[i].logprob, want.logprob, 1e-5) << i;
      ASSERT_EQ(tail.entries[i].top.size(), want.top.size()) << i;
      for (size_t a = 0; a < want.top.size(); ++a) {
        EXPECT_EQ(tail.entries[i].top[a].token, want.top[a].token) << i;
        EXPECT_EQ(tail.entries[i].top[a].text, want.top[a].text) << i;
        EXPECT_NEAR(tail.entries[i].top[a].logprob, want.top[a].logprob, 1e-5) << i;
      }
      EXPECT_EQ(tail.entries[i].prompt.size(), k + i == 0 ? want.prompt.size() : 0u) << i;
    }
    ASSERT_TRUE(tail.done.has_value());
    EXPECT_EQ(tail.done->attempt, again.attempt);
    EXPECT_EQ(tail.done->finish_reason, full.done->finish_reason);
    EXPECT_EQ(tail.done->usage.completion_tokens, 12u);
    EXPECT_EQ(tail.done->usage.prompt_tokens, full.done->usage.prompt_tokens);
  }
  // A resume token outside the vocabulary: a typed refusal, and the worker serves on.
  sc::Dispatch bad = d;
  bad.job_id = "j-bad-resume";
  bad.resume_tokens = {1, 1 << 30};
  broker_.send(bad);
  auto f = broker_.next<sc::WorkerFailed>();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->job_id, "j-bad-resume");
  EXPECT_EQ(f->code, sc::ErrorCode::kInvalidArgument) << f->message;
  EXPECT_EQ(run_attempt(broker_, dispatch("j-after", 0, 3)).entries.size(), 3u);
}

TEST(JobMappingTest, ClassifiesRealEngineRefusals) {
  auto m = tiny_model();
  ASSERT_NE(m.model, nullptr);
  engine::EngineConfig config;
  config.n_threads = 1;
  auto eng = engine::Engine::create(m.model, config);
  ASSERT_TRUE(eng.ok());
  engine::GenerationRequest too_long;
  too_long.prompt = std::string(2000, 'x');
  too_long.prompt_tokens.assign(300, 65);
  auto s = (*eng)->submit(too_long);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(engine_error_code(s.status().code()), sc::ErrorCode::kPromptTooLong);
  engine::GenerationRequest bad;
  bad.prompt = "hi";
  bad.sampling.temperature = -1.0f;
  s = (*eng)->submit(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(engine_error_code(s.status().code()), sc::ErrorCode::kInvalidArgument);
  EXPECT_EQ(engine_error_code(StatusCode::kInternal), sc::ErrorCode::kInternal);
  EXPECT_EQ(engine_error_code(StatusCode::kNotFound), sc::ErrorCode::kModelUnavailable);
  EXPECT_EQ(engine_error_code(StatusCode::kUnavailable), sc::ErrorCode::kUnavailable);

  sc::SubmitRequest r;
  r.prompt = "p";
  r.max_tokens = 9;
  r.stop = {"."};
  r.sampling.seed = 0;
  engine::GenerationRequest g = to_generation_request(r);
  EXPECT_EQ(g.max_tokens, 9);
  EXPECT_EQ(g.sampling.seed, std::optional<uint64_t>(0));
  EXPECT_EQ(g.stop, r.stop);
  EXPECT_EQ(wire_finish_reason(engine::FinishReason::kEos), "stop");
  EXPECT_EQ(wire_finish_reason(engine::FinishReason::kLength), "length");
}

}  // namespace
}  // namespace rs::worker::io::testing
