// WorkerLoop end to end with a real BrokerLoop and Redis: streamed tokens equal a direct
// Engine run (and their logprobs), both devices of a worker serve, a running job is cancelled.
#include "rs/worker/io/worker_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "worker_fixture.h"

namespace rs::worker::io::testing {
namespace {

// Holds engine steps back: each step needs a credit unless the gate is open.
class StepGate {
 public:
  void pass() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_ || credits_ > 0; });
    if (!open_) --credits_;
  }
  void allow(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    credits_ += n;
    cv_.notify_all();
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int credits_ = 0;
  bool open_ = false;
};

class WorkerServeTest : public WorkerLoopTest {
 protected:
  void TearDown() override {
    gate_.open();  // a blocked engine thread could not stop
    WorkerLoopTest::TearDown();
  }
  StepGate gate_;
};

std::vector<uint64_t> iota_seqs(size_t n) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST_F(WorkerServeTest, StreamsTheTokensOfADirectEngineRun) {
  start_broker(1000);
  start_worker(worker_options(1, 1000));
  auto c = client("c1");
  const sc::SubmitRequest r = request("Once upon a time", 24, 42);
  const std::string job = submit(*c, r);
  auto results = collect(*c, 1);
  const JobResult& j = results[job];
  ASSERT_TRUE(j.done.has_value());
  EXPECT_EQ(j.done->record.state, sc::JobState::kSucceeded) << j.done->record.error;
  EXPECT_EQ(j.done->record.worker, "w-test");
  EXPECT_EQ(j.done->record.device, 0);
  EXPECT_EQ(j.done->record.attempt, 1u);
  std::vector<float> direct_logprobs;
  EXPECT_EQ(j.tokens, direct_run(r, &direct_logprobs));
  EXPECT_EQ(j.logprobs, direct_logprobs) << "logprobs reach the client bit for bit";
  for (float lp : j.logprobs) EXPECT_TRUE(std::isfinite(lp) && lp <= 0.0f) << lp;
  EXPECT_EQ(j.seqs, iota_seqs(j.tokens.size()));
  EXPECT_EQ(j.done->record.usage.completion_tokens, j.tokens.size());
  EXPECT_GT(j.done->record.usage.prompt_tokens, 0u);
  EXPECT_GE(j.done->record.usage.ttft_ms, 0.0);
  EXPECT_GE(worker_->counters().token_messages.load(), 1u);
  EXPECT_EQ(worker_->counters().done_sent.load(), 1u);
}

TEST_F(WorkerServeTest, BothDevicesServeJobs) {
  start_broker(1000);
  start_worker(worker_options(2, 1000));
  auto c = client("c2");
  std::map<uint64_t, sc::SubmitRequest> requests;
  for (uint64_t i = 0; i < 12; ++i) {
    sc::SubmitRequest r = request("prompt number " + std::to_string(i), 12, 100 + i);
    r.affinity_key = "key-" + std::to_string(i);
    r.request_id = 10 + i;
    c->send(r);
    requests[r.request_id] = r;
  }
  std::map<uint64_t, std::string> accepted;
  auto results = collect(*c, requests.size(), &accepted);
  ASSERT_EQ(accepted.size(), requests.size());
  std::set<int32_t> devices;
  for (const auto& [request_id, r] : requests) {
    const std::string& job = accepted[request_id];
    const JobResult& j = results[job];
    ASSERT_TRUE(j.done.has_value()) << job;
    EXPECT_EQ(j.done->record.state, sc::JobState::kSucceeded) << j.done->record.error;
    EXPECT_EQ(j.tokens, direct_run(r)) << job;
    EXPECT_EQ(j.seqs, iota_seqs(j.tokens.size()));
    devices.insert(j.done->record.device);
  }
  EXPECT_EQ(devices, (std::set<int32_t>{0, 1}));
}

TEST_F(WorkerServeTest, CancelsARunningJobAndFreesItsBlocks) {
  start_broker(1000);
  WorkerOptions o = worker_options(1, 1000);
  o.before_step = [this](int) { gate_.pass(); };
  start_worker(o);
  const int kv_total = worker_->device_load(0).kv_total_blocks;
  gate_.allow(3);
  auto c = client("c3");
  const std::string job = submit(*c, request("a long story", 200, 1));
  auto first = c->expect<sc::TokenBatch>();  // the job is RUNNING
  ASSERT_FALSE(first.entries.empty());
  c->send(sc::CancelRequest{.request_id = 2, .job_id = job});
  ASSERT_TRUE(wait_until([this] { return worker_->counters().cancels_applied.load() == 1; }));
  gate_.open();
  auto results = collect(*c, 1);
  const JobResult& j = results[job];
  ASSERT_TRUE(j.done.has_value());
  EXPECT_EQ(j.done->record.state, sc::JobState::kCancelled);
  EXPECT_LT(first.entries.size() + j.tokens.size(), 200u);
  EXPECT_TRUE(wait_until([&] {
    DeviceLoad l = worker_->device_load(0);
    return l.n_jobs == 0 && l.kv_free_blocks == kv_total;
  }));
}

// Issue 11's audit: device_load() is documented for any thread, but shutdown() (on the
// loop's thread, when run() ends) used to destroy the DeviceHosts under a concurrent reader
// (ThreadSanitizer caught it in CancelsARunningJobAndFreesItsBlocks). The hosts now live as
// long as the loop; after the shutdown they report no engine.
TEST_F(WorkerServeTest, DeviceLoadMayBeReadWhileTheLoopShutsDown) {
  start_broker(1000);
  start_worker(worker_options(2, 1000));
  auto c = client("c4");
  submit(*c, request("a story to cut short", 200, 3));
  std::atomic<bool> reading{true};
  std::atomic<int64_t> reads{0};
  std::thread reader([&] {
    while (reading.load()) {
      for (int d = 0; d < 2; ++d) {
        const DeviceLoad l = worker_->device_load(d);
        EXPECT_GE(l.free_slots, 0);
      }
      reads.fetch_add(1);
    }
  });
  ASSERT_TRUE(wait_until([&] { return reads.load() > 100; }));
  worker_->request_stop();
  worker_thread_.join();
  const int64_t after_stop = reads.load();
  ASSERT_TRUE(wait_until([&] { return reads.load() > after_stop + 100; }));
  reading.store(false);
  reader.join();
  for (int d = 0; d < 2; ++d) {
    const DeviceLoad l = worker_->device_load(d);
    EXPECT_EQ(l.n_jobs, 0);
    EXPECT_EQ(l.kv_total_blocks, 0) << "a shut-down device still holds its engine";
  }
}

}  // namespace
}  // namespace rs::worker::io::testing
