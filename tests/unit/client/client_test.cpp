// rs_client against an in-process BrokerLoop (real Redis) and a scripted worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "client_fixture.h"
#include "rs/schemas/errors.h"

namespace rs::client::testing {
namespace {

using sc::ErrorCode;
using sc::JobState;

TEST_F(ClientTest, PingAnswersWithBrokerTime) {
  start_broker();
  auto c = connect();
  auto t = c->ping();
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_GT(*t, 0u);
}

TEST_F(ClientTest, SubmitAndWaitDeliversTokensInOrder) {
  start_broker();
  scripted("w1", 2);
  auto c = connect();
  auto accepted = c->submit(request(8));
  ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
  EXPECT_FALSE(accepted->duplicate);
  sc::JobRecord record;
  EXPECT_EQ(wait_seqs(*c, accepted->job_id, &record), range(0, 8));
  EXPECT_EQ(record.job_id, accepted->job_id);
  EXPECT_EQ(record.state, JobState::kSucceeded);
  EXPECT_EQ(record.worker, "w1");
  EXPECT_EQ(record.usage.completion_tokens, 8u);
  // A second wait on a collected job is an error, not a hang.
  EXPECT_FALSE(c->wait(accepted->job_id, nullptr, 100).ok());
}

TEST_F(ClientTest, ManyJobsInFlightOnOneClient) {
  start_broker();
  scripted("w1", 4);
  scripted("w2", 4);
  auto c = connect();
  std::vector<std::string> jobs;
  for (int i = 0; i < 60; ++i) {
    auto r = request(3 + i % 5, i % 7 != 0);  // some not streamed: DONE only
    r.affinity_key = std::string("k").append(std::to_string(i));
    auto a = c->submit(r);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    jobs.push_back(a->job_id);
  }
  // Wait in reverse order: everything for the later jobs was buffered meanwhile.
  for (int i = static_cast<int>(jobs.size()) - 1; i >= 0; --i) {
    sc::JobRecord record;
    auto seqs = wait_seqs(*c, jobs[static_cast<size_t>(i)], &record);
    EXPECT_EQ(seqs, i % 7 != 0 ? range(0, 3 + static_cast<uint64_t>(i) % 5) : std::vector<uint64_t>{});
    EXPECT_EQ(record.state, JobState::kSucceeded);
  }
}

TEST_F(ClientTest, SubscribeFromZeroAndFromTheMiddleOfAFinishedJob) {
  start_broker();
  scripted("w1", 1);
  auto submitter = connect();
  auto a = submitter->submit(request(10));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(wait_seqs(*submitter, a->job_id).size(), 10u);

  auto late = connect();
  ASSERT_TRUE(late->subscribe(a->job_id, 0).ok());
  EXPECT_EQ(wait_seqs(*late, a->job_id), range(0, 10));
  ASSERT_TRUE(late->subscribe(a->job_id, 6).ok());
  sc::JobRecord record;
  EXPECT_EQ(wait_seqs(*late, a->job_id, &record), range(6, 10));
  EXPECT_EQ(record.state, JobState::kSucceeded);
}

TEST_F(ClientTest, SubscribeFromTheMiddleOfALiveJob) {
  start_broker();
  ScriptedWorker& w = scripted("w1", 1);
  w.hold = true;
  auto submitter = connect();
  auto a = submitter->submit(request(12, /*stream=*/false));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(eventually([&] { return w.dispatched.load() == 1; }));
  auto sub = connect();
  ASSERT_TRUE(sub->subscribe(a->job_id, 4).ok());
  w.hold = false;
  EXPECT_EQ(wait_seqs(*sub, a->job_id), range(4, 12));
  EXPECT_TRUE(wait_seqs(*submitter, a->job_id).empty());  // stream=false: DONE only
}

TEST_F(ClientTest, SubmitterSubscribingToItsOwnJobGetsEachTokenOnce) {
  start_broker();
  ScriptedWorker& w = scripted("w1", 1);
  w.hold = true;
  auto c = connect();
  auto a = c->submit(request(9));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(c->subscribe(a->job_id, 0).ok());  // every token now comes twice
  w.hold = false;
  EXPECT_EQ(wait_seqs(*c, a->job_id), range(0, 9));
}

TEST_F(ClientTest, StatusOfQueuedRunningAndFinishedJob) {
  start_broker();
  ScriptedWorker& w = scripted("w1", 1);
  w.hold = true;
  auto c = connect();
  auto a = c->submit(request(4));
  auto b = c->submit(request(4));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(eventually([&] { return w.dispatched.load() == 1; }));
  auto sb = c->status(b->job_id);
  ASSERT_TRUE(sb.ok()) << sb.status().to_string();
  EXPECT_EQ(sb->state, JobState::kQueued);
  EXPECT_EQ(sb->model, "m");
  w.hold = false;
  wait_seqs(*c, a->job_id);
  wait_seqs(*c, b->job_id);
  auto sa = c->status(a->job_id);
  ASSERT_TRUE(sa.ok());
  EXPECT_EQ(sa->state, JobState::kSucceeded);
  EXPECT_EQ(sa->usage.completion_tokens, 4u);
}

TEST_F(ClientTest, CancelQueuedThenRunningJob) {
  start_broker();
  ScriptedWorker& w = scripted("w1", 1);
  w.hold = true;
  auto c = connect();
  auto running = c->submit(request(50));
  auto queued = c->submit(request(50));
  ASSERT_TRUE(running.ok() && queued.ok());
  ASSERT_TRUE(eventually([&] { return w.dispatched.load() == 1; }));

  auto ack = c->cancel(queued->job_id);
  ASSERT_TRUE(ack.ok()) << ack.status().to_string();
  EXPECT_EQ(ack->state, JobState::kCancelled);
  sc::JobRecord record;
  EXPECT_TRUE(wait_seqs(*c, queued->job_id, &record).empty());
  EXPECT_EQ(record.state, JobState::kCancelled);

  auto ack2 = c->cancel(running->job_id);
  ASSERT_TRUE(ack2.ok()) << ack2.status().to_string();
  EXPECT_FALSE(sc::is_terminal(ack2->state));
  wait_seqs(*c, running->job_id, &record);  // the worker confirms: DONE CANCELLED
  EXPECT_EQ(record.state, JobState::kCancelled);

  auto again = c->cancel(running->job_id);  // finished now
  EXPECT_EQ(sc::wire_error_of(again.status()), ErrorCode::kNotFound);
}

TEST_F(ClientTest, UnknownJobIsNotFound) {
  start_broker();
  auto c = connect();
  EXPECT_EQ(sc::wire_error_of(c->status("j-nope").status()), ErrorCode::kNotFound);
  EXPECT_EQ(sc::wire_error_of(c->cancel("j-nope").status()), ErrorCode::kNotFound);
  EXPECT_EQ(sc::wire_error_of(c->subscribe("j-nope", 0)), ErrorCode::kNotFound);
  EXPECT_EQ(sc::wire_error_of(c->wait("j-nope", nullptr, 10).status()), ErrorCode::kNotFound);
}

TEST_F(ClientTest, RejectionsComeBackAsTypedErrors) {
  start_broker(/*max_queued=*/1);
  ScriptedWorker& w = scripted("w1", 1);
  w.hold = true;
  auto c = connect();
  auto unknown = request(4);
  unknown.model = "nope";
  auto s = c->submit(unknown);
  EXPECT_EQ(sc::wire_error_of(s.status()), ErrorCode::kUnknownModel) << s.status().to_string();
  ASSERT_TRUE(c->submit(request(4)).ok());  // dispatched
  ASSERT_TRUE(eventually([&] { return w.dispatched.load() == 1; }));
  ASSERT_TRUE(c->submit(request(4)).ok());  // queued
  auto full = c->submit(request(4));
  EXPECT_EQ(sc::wire_error_of(full.status()), ErrorCode::kQueueFull) << full.status().to_string();
  auto long_prompt = request(4);
  long_prompt.prompt.assign((1u << 20) + 1, 'a');
  EXPECT_EQ(sc::wire_error_of(c->submit(long_prompt).status()), ErrorCode::kPromptTooLong);
  auto bad = request(4);
  bad.max_tokens = 0;
  EXPECT_EQ(sc::wire_error_of(c->submit(bad).status()), ErrorCode::kInvalidArgument);
  w.hold = false;
}

TEST_F(ClientTest, IdempotentResubmissionNamesTheFirstJob) {
  start_broker();
  scripted("w1", 2);
  auto c = connect();
  auto r = request(3);
  r.idempotency_key = "once";
  auto first = c->submit(r);
  auto second = c->submit(r);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(first->job_id, second->job_id);
  EXPECT_EQ(wait_seqs(*c, first->job_id), range(0, 3));
}

TEST_F(ClientTest, WorkersListsDevices) {
  start_broker();
  scripted("w1", 3);
  auto c = connect();
  auto devices = c->workers();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].worker, "w1");
  EXPECT_EQ((*devices)[0].max_slots, 3u);
  EXPECT_EQ((*devices)[0].models, std::vector<std::string>{"m"});
}

TEST(ClientUnreachable, RequestTimesOutAsUnavailable) {
  ClientOptions o;
  o.endpoint = "tcp://127.0.0.1:1";  // nothing listens on port 1
  o.request_timeout_ms = 200;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  auto start = std::chrono::steady_clock::now();
  auto t = (*c)->ping();
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(t.status().message().find("broker unreachable at tcp://127.0.0.1:1"), std::string::npos);
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  sc::SubmitRequest r;
  r.model = "m";
  r.prompt = "x";
  EXPECT_EQ(sc::wire_error_of((*c)->submit(r).status()), ErrorCode::kUnavailable);
  EXPECT_EQ(sc::wire_error_of((*c)->subscribe("j", 0)), ErrorCode::kUnavailable);
}

TEST(ClientConnect, EmptyEndpointIsAnError) {
  EXPECT_FALSE(Client::connect(ClientOptions{}).ok());
}

TEST(ResolveEndpoint, FlagThenEnvironmentThenFile) {
  namespace fs = std::filesystem;
  const fs::path old_cwd = fs::current_path();
  fs::path dir = fs::temp_directory_path() / ("rs-client-ep-" + std::to_string(::getpid()));
  fs::create_directories(dir / "var");
  fs::current_path(dir);
  ::unsetenv("RINGSERVE_BROKER");
  auto none = resolve_endpoint("");
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no broker endpoint"), std::string::npos);
  std::ofstream(dir / "var" / "endpoint") << "  tcp://127.0.0.1:7000\n";
  EXPECT_EQ(resolve_endpoint("").value(), "tcp://127.0.0.1:7000");
  ::setenv("RINGSERVE_BROKER", "tcp://127.0.0.1:7001", 1);
  EXPECT_EQ(resolve_endpoint("").value(), "tcp://127.0.0.1:7001");
  EXPECT_EQ(resolve_endpoint("tcp://127.0.0.1:7002").value(), "tcp://127.0.0.1:7002");
  ::unsetenv("RINGSERVE_BROKER");
  fs::current_path(old_cwd);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rs::client::testing
