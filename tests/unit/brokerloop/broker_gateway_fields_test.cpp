// The fields the OpenAI gateway relies on, through the broker: SUBMIT's api_meta / tenant /
// detach in STATUS, DONE and Redis (also after a broker restart); finish_reason when a job
// ends (length, cancelled queued or running, error); token logprobs to the submitter, in
// the Redis token log and in replays.
#include <chrono>
#include <string>
#include <thread>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace {

class BrokerGatewayFieldsTest : public BrokerLoopTest {
 protected:
  static sc::SubmitRequest gateway_submit(uint64_t request_id) {
    sc::SubmitRequest r = submit(request_id);
    r.api_meta = R"({"object":"chat.completion","model":"m","logprobs":true})";
    r.tenant = "acme";
    r.detach = true;
    return r;
  }
  static void expect_gateway_fields(const sc::JobRecord& r, const std::string& where) {
    EXPECT_EQ(r.api_meta, R"({"object":"chat.completion","model":"m","logprobs":true})") << where;
    EXPECT_EQ(r.tenant, "acme") << where;
    EXPECT_TRUE(r.detach) << where;
  }
  // Tokens 0..n-1 of attempt 1, each with its own logprob.
  static std::vector<sc::TokenEntry> scored_tokens(const std::string& job, uint64_t n) {
    std::vector<sc::TokenEntry> out = tokens(job, 1, 0, n);
    for (sc::TokenEntry& e : out) e.logprob = -0.25f * static_cast<float>(e.seq + 1) - 0.0078125f;
    return out;
  }
  // TOKENS until DONE: every entry received, and the DONE.
  static std::pair<std::vector<sc::TokenEntry>, std::optional<sc::Done>> entries_until_done(
      Peer& p) {
    std::vector<sc::TokenEntry> entries;
    for (;;) {
      auto m = p.recv();
      if (!m) return {entries, std::nullopt};
      if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
        entries.insert(entries.end(), t->entries.begin(), t->entries.end());
      } else if (auto* d = std::get_if<sc::Done>(&*m)) {
        return {entries, *d};
      } else {
        ADD_FAILURE() << "unexpected " << sc::command_name(sc::message_command(*m));
      }
    }
  }
  sc::JobRecord status(Peer& c, const std::string& job) {
    c.send(sc::StatusRequest{.request_id = 77, .job_id = job});
    return c.expect<sc::StatusReply>().record;
  }
  template <class F>
  static bool wait_until(F&& f, int timeout_ms = 5000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return f();
  }
};

TEST_F(BrokerGatewayFieldsTest, SubmitFieldsAndFinishReasonReachStatusDoneRedisAndReplays) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(gateway_submit(1));
  const std::string job = c->expect<sc::Accepted>().job_id;
  const sc::Dispatch d = w->expect<sc::Dispatch>();
  EXPECT_EQ(d.request.tenant, "acme");
  EXPECT_TRUE(d.request.detach);

  const sc::JobRecord running = status(*c, job);
  expect_gateway_fields(running, "STATUS while live");
  EXPECT_EQ(running.finish_reason, "");

  const std::vector<sc::TokenEntry> sent = scored_tokens(job, 3);
  w->send(sc::WorkerTokens{.entries = sent});
  w->send(sc::WorkerDone{.job_id = job,
                         .attempt = 1,
                         .device = 0,
                         .usage = {.prompt_tokens = 2, .completion_tokens = 3},
                         .finish_reason = "length"});
  auto [got, done] = entries_until_done(*c);
  EXPECT_EQ(got, sent) << "TOKENS carry the worker's logprobs";
  ASSERT_TRUE(done.has_value());
  expect_gateway_fields(done->record, "DONE");
  EXPECT_EQ(done->record.finish_reason, "length");

  const sc::JobRecord ended = status(*c, job);  // from Redis now
  expect_gateway_fields(ended, "STATUS after the end");
  EXPECT_EQ(ended.finish_reason, "length");
  auto stored = store_->load(job);
  ASSERT_TRUE(stored.ok()) << stored.status().to_string();
  EXPECT_EQ(*stored, done->record);
  auto log = log_->read(job, 0);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->entries, sent);

  auto late = client("late");
  late->send(sc::SubscribeRequest{.request_id = 5, .job_id = job, .from_seq = 1});
  auto [replayed, replay_done] = entries_until_done(*late);
  EXPECT_EQ(replayed, std::vector<sc::TokenEntry>(sent.begin() + 1, sent.end()));
  ASSERT_TRUE(replay_done.has_value());
  EXPECT_EQ(replay_done->record.finish_reason, "length");
  expect_gateway_fields(replay_done->record, "DONE of a replay");
}

TEST_F(BrokerGatewayFieldsTest, CancelledQueuedAndRunningJobsAndFailedOnes) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  const std::string running = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  c->send(submit(2));
  const std::string queued = c->expect<sc::Accepted>().job_id;  // no slot: stays queued

  // The broker cancels the queued job itself: a DONE and the ack, both "cancelled".
  c->send(sc::CancelRequest{.request_id = 3, .job_id = queued});
  for (int i = 0; i < 2; ++i) {
    auto m = c->recv();
    ASSERT_TRUE(m.has_value());
    const sc::JobRecord* r = nullptr;
    if (auto* done = std::get_if<sc::Done>(&*m)) r = &done->record;
    if (auto* ack = std::get_if<sc::StatusReply>(&*m)) r = &ack->record;
    ASSERT_NE(r, nullptr) << sc::command_name(sc::message_command(*m));
    EXPECT_EQ(r->job_id, queued);
    EXPECT_EQ(r->state, sc::JobState::kCancelled);
    EXPECT_EQ(r->finish_reason, "cancelled");
  }
  auto stored = store_->load(queued);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->finish_reason, "cancelled");

  // A running one ends when its worker confirms.
  c->send(sc::CancelRequest{.request_id = 4, .job_id = running});
  EXPECT_EQ(c->expect<sc::StatusReply>().record.finish_reason, "");
  w->expect<sc::CancelJob>();
  w->send(
      sc::WorkerDone{.job_id = running, .attempt = 1, .device = 0, .finish_reason = "cancelled"});
  const sc::Done done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kCancelled);
  EXPECT_EQ(done.record.finish_reason, "cancelled");
  EXPECT_EQ(status(*c, running).finish_reason, "cancelled");

  // FAILED: "error".
  c->send(submit(5));
  const std::string failed = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->send(sc::WorkerFailed{.job_id = failed,
                           .attempt = 1,
                           .device = 0,
                           .code = sc::ErrorCode::kInvalidArgument,
                           .message = "bad"});
  const sc::Done failed_done = c->expect<sc::Done>();
  EXPECT_EQ(failed_done.record.state, sc::JobState::kFailed);
  EXPECT_EQ(failed_done.record.finish_reason, "error");
  EXPECT_EQ(status(*c, failed).finish_reason, "error");
}

TEST_F(BrokerGatewayFieldsTest, OverLongApiMetaOrTenantIsRejectedTooLarge) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  sc::SubmitRequest r = gateway_submit(1);
  r.api_meta = std::string(sc::Limits{}.max_api_meta_bytes + 1, 'x');
  c->send(r);
  auto rejected = c->expect<sc::Rejected>();
  EXPECT_EQ(rejected.request_id, 1u);
  EXPECT_EQ(rejected.code, sc::ErrorCode::kTooLarge);
  r = gateway_submit(2);
  r.tenant = std::string(sc::Limits{}.max_tenant_bytes + 1, 't');
  c->send(r);
  rejected = c->expect<sc::Rejected>();
  EXPECT_EQ(rejected.request_id, 2u);
  EXPECT_EQ(rejected.code, sc::ErrorCode::kTooLarge);
}

// A broker that dies mid-job: the next one reads the fields back from Redis, and the job
// (adopted on its worker) ends with them; its tokens replay with their logprobs.
// A chat job's fields pass through untouched, and every DISPATCH of it (a retry elsewhere
// too) carries the job's creation time: the worker's strftime_now renders the same prompt.
TEST_F(BrokerGatewayFieldsTest, ChatFieldsAndTheCreationTimeReachEveryDispatch) {
  start_broker();
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  sc::SubmitRequest r = submit(1);
  r.prompt.clear();
  r.chat_messages = R"([{"role": "user", "content": "hi"}])";
  r.chat_tools = R"([{"type": "function", "function": {"name": "f"}}])";
  r.chat_kwargs = R"({"enable_thinking": true})";
  r.add_generation_prompt = false;
  c->send(r);
  const std::string job = c->expect<sc::Accepted>().job_id;
  const sc::Dispatch first = w1->expect<sc::Dispatch>();
  EXPECT_EQ(first.request.chat_messages, r.chat_messages);
  EXPECT_EQ(first.request.chat_tools, r.chat_tools);
  EXPECT_EQ(first.request.chat_kwargs, r.chat_kwargs);
  EXPECT_FALSE(first.request.add_generation_prompt);
  const uint64_t created_ms = status(*c, job).created_ms;
  EXPECT_GT(created_ms, 0u);
  EXPECT_EQ(first.created_ms, created_ms);
  // w1 gives it back (its model went away); the retry on w2 has the same clock.
  auto w2 = worker("w2", 1);
  w1->send(sc::WorkerFailed{.job_id = job, .attempt = first.attempt, .device = 0,
                            .code = sc::ErrorCode::kModelUnavailable, .message = "swapped out"});
  const sc::Dispatch retry = w2->expect<sc::Dispatch>();
  EXPECT_GT(retry.attempt, first.attempt);
  EXPECT_EQ(retry.created_ms, created_ms);
  EXPECT_EQ(retry.request.chat_messages, r.chat_messages);
}

TEST_F(BrokerGatewayFieldsTest, ARestartedBrokerKeepsTheFieldsAndTheLogprobs) {
  BrokerOptions o;
  o.recovery_wait_ms = 2000;
  start_broker_with(o);
  const std::string prefix = keys_.prefix;
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(gateway_submit(1));
  const std::string job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  const std::vector<sc::TokenEntry> sent = scored_tokens(job, 4);
  w->send(sc::WorkerTokens{.entries = {sent[0], sent[1]}});
  ASSERT_TRUE(wait_until([&] { return loop_->counters().tokens.load() == 2; }));
  loop_->request_stop();  // the broker "dies": nothing ends its job
  thread_.join();
  loop_.reset();
  w.reset();
  c.reset();

  o.redis.port = redis_.port();
  o.key_prefix = prefix;
  loop_ = std::make_unique<BrokerLoop>(ctx_, o);
  ASSERT_TRUE(loop_->bind().ok());
  thread_ = std::thread([this] { run_status_ = loop_->run(); });
  auto w2 = std::make_unique<Peer>(ctx_, loop_->worker_endpoint(), "w1");
  w2->set_skip_heartbeats(false);
  w2->send(sc::WorkerReady{
      .worker_id = "w1",
      .devices = {sc::DeviceInfo{.index = 0, .models = {"m"}, .free_slots = 0, .max_slots = 1}},
      .jobs = {sc::ReadyJob{.job_id = job, .attempt = 1, .device = 0, .n_tokens = 4}}});
  w2->expect<sc::BrokerHeartbeat>();
  w2->set_skip_heartbeats(true);
  w2->send(sc::WorkerTokens{.entries = sent});
  w2->send(sc::WorkerDone{.job_id = job, .attempt = 1, .device = 0, .finish_reason = "stop"});
  ASSERT_TRUE(wait_until([&] {
    auto r = store_->load(job);
    return r.ok() && r->state == sc::JobState::kSucceeded;
  }));

  auto c2 = client("c2");
  const sc::JobRecord ended = status(*c2, job);
  expect_gateway_fields(ended, "STATUS after a restart");
  EXPECT_EQ(ended.finish_reason, "stop");
  c2->send(sc::SubscribeRequest{.request_id = 2, .job_id = job, .from_seq = 0});
  auto [replayed, done] = entries_until_done(*c2);
  EXPECT_EQ(replayed, sent);
  ASSERT_TRUE(done.has_value());
  expect_gateway_fields(done->record, "DONE of a replay after a restart");
  EXPECT_EQ(done->record.finish_reason, "stop");
}

}  // namespace
}  // namespace rs::broker::testing
