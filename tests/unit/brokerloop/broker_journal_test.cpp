// The double fault (issue 14): the broker is killed (-9) while Redis is stopped. Its
// accepted job kept streaming from memory, so the client saw tokens Redis never got. With
// `--journal`, those held writes were appended to a local file before the TOKENS went out;
// the next broker re-applies them before recovery, so Redis's token log then holds exactly
// what the client saw and the job resumes after it. Without a journal they are lost.
// The real `ringserve-broker` program (a child process, killed -9), a real redis-server
// (SIGSTOP), DEALER peers as client and scripted workers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "broker_fixture.h"
#include "child_process.h"

namespace rs::broker::testing {
namespace journal_crash_test {

namespace fs = std::filesystem;

constexpr uint64_t kSeenBeforeStop = 5;
constexpr uint64_t kSeen = 15;  // what the client received in all

class BrokerJournalTest : public BrokerLoopTest {
 protected:
  // The program next to this test binary (build/*/bin), or in RS_BIN_DIR.
  static std::string program() {
    std::error_code ec;
    fs::path here = fs::read_symlink("/proc/self/exe", ec).parent_path() / "ringserve-broker";
    if (!ec && fs::exists(here)) return here.string();
    return rs::test::bin_dir() + "/ringserve-broker";
  }
  // A broker child on ephemeral ports; false if it printed no endpoints.
  bool launch(bool journal, const std::string& log) {
    std::vector<std::string> argv = {program(),
                                     "--insecure",
                                     "--redis",
                                     "127.0.0.1:" + std::to_string(redis_.port()),
                                     "--store-timeout-ms",
                                     "300",
                                     "--heartbeat-ms",
                                     "60000",
                                     "--recovery-wait-ms",
                                     "300",
                                     "--log-level",
                                     "info"};
    if (journal) argv.insert(argv.end(), {"--journal", journal_path()});
    broker_ = std::make_unique<rs::test::ChildProcess>();
    if (!broker_->start(argv, dir_.file(log))) return false;
    auto c = broker_->wait_for_line("client_endpoint ", 20000);
    auto w = broker_->wait_for_line("worker_endpoint ", 20000);
    if (!c || !w) return false;
    client_endpoint_ = c->substr(std::string("client_endpoint ").size());
    worker_endpoint_ = w->substr(std::string("worker_endpoint ").size());
    return true;
  }
  std::string journal_path() const { return dir_.file("broker.journal"); }
  // Redis's log of the job and its redispatch hold the kSeen tokens the client saw; the
  // journal is emptied.
  void expect_everything_seen(const std::string& job, const sc::Dispatch& d);
  uint64_t journal_bytes() const {
    std::error_code ec;
    auto n = fs::file_size(journal_path(), ec);
    return ec ? 0 : n;
  }
  std::unique_ptr<Peer> ready_worker(const std::string& id) {
    auto w = std::make_unique<Peer>(ctx_, worker_endpoint_, id);
    w->send(sc::WorkerReady{
        .worker_id = id,
        .devices = {sc::DeviceInfo{.index = 0, .models = {"m"}, .free_slots = 1, .max_slots = 1}}});
    w->set_skip_heartbeats(false);  // READY is acknowledged with a heartbeat: "m" is served
    w->expect<sc::BrokerHeartbeat>(20000);
    w->set_skip_heartbeats(true);
    return w;
  }
  // TOKENS until n seqs arrived (nothing else expected).
  static std::vector<uint64_t> seqs_of(Peer& p, size_t n) {
    std::vector<uint64_t> seqs;
    while (seqs.size() < n) {
      auto m = p.recv(20000);
      if (!m) break;
      if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
        for (const auto& e : t->entries) seqs.push_back(e.seq);
      } else {
        ADD_FAILURE() << "got " << sc::command_name(sc::message_command(*m));
        break;
      }
    }
    return seqs;
  }
  static std::vector<uint64_t> range(uint64_t from, uint64_t to) {
    std::vector<uint64_t> out;
    for (uint64_t s = from; s < to; ++s) out.push_back(s);
    return out;
  }
  // A streaming job on broker 1 whose client receives kSeen tokens, the last ten while
  // Redis is stopped; then broker 1 is killed -9 and Redis continues. Returns the job id.
  // resume = false: Redis stays stopped.
  std::string stream_then_crash(bool journal, bool resume = true) {
    EXPECT_TRUE(launch(journal, "broker-1.log"));
    auto w = ready_worker("w1");
    auto c = std::make_unique<Peer>(ctx_, client_endpoint_, "c1");
    auto request = submit(1);
    request.stream = true;
    request.max_tokens = 64;
    c->send(request);
    const std::string job = c->expect<sc::Accepted>(20000).job_id;
    EXPECT_EQ(w->expect<sc::Dispatch>(20000).job_id, job);
    w->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, kSeenBeforeStop)});
    EXPECT_EQ(seqs_of(*c, kSeenBeforeStop), range(0, kSeenBeforeStop));
    redis_.pause();
    w->send(sc::WorkerTokens{.entries = tokens(job, 1, kSeenBeforeStop, 10)});
    EXPECT_EQ(seqs_of(*c, 10 - kSeenBeforeStop), range(kSeenBeforeStop, 10))
        << "streamed from memory while Redis is stopped";
    w->send(sc::WorkerTokens{.entries = tokens(job, 1, 10, kSeen)});
    EXPECT_EQ(seqs_of(*c, kSeen - 10), range(10, kSeen));
    if (journal) {
      EXPECT_GT(journal_bytes(), 0u) << "TOKENS went out before their writes were journaled";
    }
    broker_->kill_hard();  // kill -9: no flush
    EXPECT_TRUE(broker_->wait_exit(10000));
    if (resume) redis_.resume();
    return job;
  }
  // Broker 2 recovers the job; a new worker gets it with the tokens Redis holds.
  sc::Dispatch restart_and_redispatch(bool journal, const std::string& job,
                                      const std::string& log = "broker-2.log") {
    EXPECT_TRUE(launch(journal, log));
    worker2_ = ready_worker("w2");  // kept: its drop would requeue the job
    auto d = worker2_->expect<sc::Dispatch>(30000);
    EXPECT_EQ(d.job_id, job);
    EXPECT_EQ(d.attempt, 2u);
    return d;
  }
  std::vector<uint64_t> logged_seqs(const std::string& job) {
    std::vector<uint64_t> seqs;
    auto log = log_->read(job, 0);
    EXPECT_TRUE(log.ok()) << log.status().to_string();
    if (log.ok()) {
      for (const auto& e : log->entries) seqs.push_back(e.seq);
    }
    return seqs;
  }
  void SetUp() override {
    BrokerLoopTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    if (!fs::exists(program())) {
      if (rs::test::in_ci()) FAIL() << "no ringserve-broker under CI=true: " << program();
      GTEST_SKIP() << "ringserve-broker not built: " << program();
    }
    open_store("rs:");  // the program's default prefix
  }
  void TearDown() override {
    redis_.resume();
    if (HasFailure() || std::getenv("RS_KEEP_LOGS") != nullptr) {
      dir_.keep();
      std::fprintf(stderr, "broker logs kept in %s\n", dir_.path().c_str());
    }
    worker2_.reset();
    if (broker_) broker_->terminate(5000);
    BrokerLoopTest::TearDown();
  }

  rs::test::TempDir dir_{"rs-journal-crash"};
  std::unique_ptr<rs::test::ChildProcess> broker_;
  std::unique_ptr<Peer> worker2_;
  std::string client_endpoint_;
  std::string worker_endpoint_;
};

TEST_F(BrokerJournalTest, HeldWritesSurviveABrokerKilledWhileRedisIsStopped) {
  const std::string job = stream_then_crash(true);
  expect_everything_seen(job, restart_and_redispatch(true, job));
}

// The next broker starts while Redis is still stopped: its re-application of the journal
// is retried and the file is kept; killed -9 too, the one after it applies the journal.
TEST_F(BrokerJournalTest, AJournalIsKeptWhileRedisStaysDownAcrossAnotherCrash) {
  const std::string job = stream_then_crash(true, /*resume=*/false);
  const uint64_t bytes = journal_bytes();
  ASSERT_TRUE(launch(true, "broker-2.log"));
  // Its first write batch (the journal's first) fails: wait for the broker to say so.
  bool failing = false;
  for (int i = 0; i < 400 && !failing; ++i) {
    std::ifstream in(dir_.file("broker-2.log"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    failing = text.find("redis write batch 1 failed") != std::string::npos;
    if (!failing) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(failing) << "the re-application did not meet the stopped Redis";
  EXPECT_EQ(journal_bytes(), bytes) << "the journal changed while nothing was applied";
  broker_->kill_hard();
  EXPECT_TRUE(broker_->wait_exit(10000));
  redis_.resume();
  expect_everything_seen(job, restart_and_redispatch(true, job, "broker-3.log"));
}

void BrokerJournalTest::expect_everything_seen(const std::string& job, const sc::Dispatch& d) {
  // Recovery read rs:live only after the journal was re-applied: the new attempt resumes
  // after every token the client saw.
  std::vector<int32_t> expected;
  for (uint64_t s = 0; s < kSeen; ++s) expected.push_back(static_cast<int32_t>(100 + s));
  EXPECT_EQ(d.resume_tokens, expected);
  EXPECT_EQ(logged_seqs(job), range(0, kSeen)) << "Redis's log = what the client saw";
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->state, sc::JobState::kDispatched) << "recovered as live and redispatched";
  EXPECT_EQ(record->attempt, 2u);
  // The journal is emptied once its batches are applied.
  for (int i = 0; i < 200 && journal_bytes() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(journal_bytes(), 0u);
}

TEST_F(BrokerJournalTest, WithoutAJournalTheTokensStreamedDuringTheOutageAreLost) {
  const std::string job = stream_then_crash(false);
  sc::Dispatch d = restart_and_redispatch(false, job);
  // The batches held behind the first failing one never reached Redis: the client saw
  // tokens 10..14 that the log does not hold, and the new attempt regenerates them.
  EXPECT_LT(d.resume_tokens.size(), kSeen);
  std::vector<uint64_t> logged = logged_seqs(job);
  EXPECT_LT(logged.size(), kSeen);
  EXPECT_GE(logged.size(), kSeenBeforeStop);
}

}  // namespace journal_crash_test
}  // namespace rs::broker::testing
