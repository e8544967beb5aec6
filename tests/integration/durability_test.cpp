// Acceptance (issue 14): nothing is lost when Redis or a peer fails. Real redis-server (AOF,
// fsync always), broker and workers; 64 streamed jobs read with raw DEALERs. After each
// fault, what clients received and what Redis holds must agree: one DONE per job,
// contiguous seqs, the same state, the same token log (no hole under the final marker),
// an empty live index, no job Redis knows that a client was refused, and a broker
// restarted afterwards runs nothing again; jobs whose broker and worker were both killed
// resume from their logs. Checks are causal, never wall-clock.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "process_harness.h"
#include "streaming_client.h"
#include "wire_peer.h"

namespace rs::test::durability {
namespace {

namespace sc = rs::schemas;

constexpr size_t kJobs = 64;
constexpr size_t kClients = 4;
constexpr uint32_t kTokens = 300;

PoolOptions durable_pool(int heartbeat_ms = 200, int step_delay_ms = 10) {
  PoolOptions o;
  o.workers = 2;
  o.devices = 2;
  o.heartbeat_ms = heartbeat_ms;
  // Steps paced so every job is still streaming when the fault comes.
  o.worker_args = {"--step-delay-ms", std::to_string(step_delay_ms), "--max-batch-size", "32"};
  return o;
}

sc::SubmitRequest job_request(const Pool& pool, size_t j) {
  sc::SubmitRequest r =
      make_request(pool.model_name(), "durable " + std::to_string(j), kTokens, 0.8f, 1000 + j);
  r.ignore_eos = true;  // every job runs to max_tokens: long enough to meet the fault
  r.session_id = "s-" + std::to_string(j);
  return r;
}

struct Clients {
  zmq::context_t ctx{1};
  std::vector<std::unique_ptr<StreamingClient>> all;
  Clients(const Pool& pool, size_t n) {
    for (size_t i = 0; i < n; ++i)
      all.push_back(std::make_unique<StreamingClient>(ctx, pool.client_endpoint()));
  }
  void pump() {
    for (auto& c : all) {
      while (c->read_one(0)) {
      }
    }
  }
  size_t tokens_received() const {
    size_t n = 0;
    for (const auto& c : all) {
      for (const auto& [job, s] : c->streams()) n += s.seqs.size();
    }
    return n;
  }
  size_t streaming() const {
    size_t n = 0;
    for (const auto& c : all) n += c->jobs_with_tokens();
    return n;
  }
  bool wait_all_done(int timeout_ms) {
    return Pool::poll_until(timeout_ms, [&] {
      bool done = true;
      for (auto& c : all) {
        while (c->read_one(1)) {
        }
        done = done && c->all_done();
      }
      return done;
    });
  }
};

void submit_all(Pool& pool, Clients& clients, size_t n_jobs) {
  for (size_t j = 0; j < n_jobs; ++j) {
    std::string job;
    ASSERT_TRUE(clients.all[j % clients.all.size()]->submit(job_request(pool, j), &job)) << j;
  }
  ASSERT_TRUE(Pool::poll_until(60000, [&] {
    clients.pump();
    return clients.streaming() == n_jobs;
  })) << "jobs did not all start streaming";
}

int64_t redis_int(Pool& pool, const store::RedisCommand& command) {
  auto r = pool.redis().command(command);
  return r.ok() ? r->integer : -1;
}

// Every job's wire view equals Redis's; returns how many jobs Redis holds in all.
void check_agreement(Pool& pool, Clients& clients, size_t n_jobs) {
  size_t n = 0;
  for (auto& c : clients.all) {
    for (auto& [job, s] : c->streams()) {
      ++n;
      ASSERT_TRUE(s.done.has_value()) << job;
      EXPECT_EQ(s.n_done, 1u) << job << ": DONE more than once";
      EXPECT_EQ(s.done->state, sc::JobState::kSucceeded) << job << ": " << s.done->error;
      ASSERT_EQ(s.seqs.size(), kTokens) << job;
      for (size_t i = 0; i < s.seqs.size(); ++i) ASSERT_EQ(s.seqs[i], i) << job;
      auto stored = pool.job_store().load(job);
      ASSERT_TRUE(stored.ok()) << stored.status().to_string();
      EXPECT_EQ(stored->state, s.done->state) << job;
      EXPECT_EQ(stored->attempt, s.done->attempt) << job;
      std::vector<int32_t> logged;
      uint64_t from = 0;
      bool finished = false;
      while (!finished) {
        auto page = pool.token_log().read(job, from);
        ASSERT_TRUE(page.ok()) << page.status().to_string();
        for (const auto& e : page->entries) {
          ASSERT_EQ(e.seq, logged.size()) << job << ": hole in the token log";
          logged.push_back(e.token);
        }
        finished = page->finished;
        if (finished) EXPECT_EQ(page->n_tokens, logged.size()) << job;
        if (page->entries.empty() && !finished) break;
        from = logged.size();
      }
      EXPECT_TRUE(finished) << job << ": no final marker";
      EXPECT_EQ(logged, s.tokens) << job << ": Redis's log differs from what the client got";
    }
  }
  EXPECT_EQ(n, n_jobs);
  EXPECT_EQ(redis_int(pool, {"ZCARD", "rs:live"}), 0) << "stale entries in rs:live";
  // Every job hash in Redis is one a client was told ACCEPTED (no refused job stored).
  auto keys = pool.redis().command({"KEYS", "rs:job:*"});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->elements.size(), n_jobs) << "Redis holds jobs no client was given";
}

// A broker killed and restarted afterwards finds nothing to run again.
void check_restart_runs_nothing(Pool& pool, Clients& clients) {
  std::map<std::string, sc::JobRecord> before;
  for (auto& c : clients.all) {
    for (auto& [job, s] : c->streams()) before[job] = *pool.job_store().load(job);
  }
  pool.kill_broker();
  ASSERT_TRUE(pool.restart_broker());
  ASSERT_TRUE(pool.wait_devices(4, 30000));
  for (auto& [job, record] : before) {
    auto now = pool.job_store().load(job);
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->state, record.state) << job;
    EXPECT_EQ(now->attempt, record.attempt) << job;
    EXPECT_EQ(now->finished_ms, record.finished_ms) << job;
  }
  EXPECT_EQ(redis_int(pool, {"ZCARD", "rs:live"}), 0);
}

// A SUBMIT during the fault: refused `unavailable` (or accepted if Redis answered it).
// Returns whether it was accepted (then the job is one more to expect).
bool submit_during_fault(Pool& pool, WirePeer& peer, uint64_t id) {
  sc::SubmitRequest r = make_request(pool.model_name(), "during", 4);
  r.request_id = id;
  EXPECT_TRUE(peer.send(r));
  for (;;) {
    auto m = peer.recv(30000);
    if (!m) {
      ADD_FAILURE() << "no answer to a SUBMIT during the fault";
      return false;
    }
    if (auto* rej = std::get_if<sc::Rejected>(&*m)) {
      EXPECT_EQ(rej->code, sc::ErrorCode::kUnavailable);
      return false;
    }
    if (std::get_if<sc::Accepted>(&*m) != nullptr) return true;
  }
}

TEST(DurabilityTest, RedisKilledAndRestartedUnderSixtyFourStreams) {
  Pool pool(durable_pool());
  RS_REQUIRE_POOL(pool);
  pool.redis_server().set_aof(true);
  ASSERT_TRUE(pool.start());
  Clients clients(pool, kClients);
  submit_all(pool, clients, kJobs);
  pool.redis_server().stop();  // kill -9
  WirePeer late(clients.ctx, pool.client_endpoint());
  const bool accepted = submit_during_fault(pool, late, 1);
  EXPECT_FALSE(accepted) << "a job was accepted while Redis was down";
  // Tokens keep coming from the workers meanwhile; the writes wait.
  for (int i = 0; i < 100; ++i)
    clients.pump(), std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(pool.redis_server().start());  // the AOF brings the data back
  ASSERT_TRUE(clients.wait_all_done(120000)) << "jobs did not finish after Redis came back";
  check_agreement(pool, clients, kJobs);
  const std::string log = file_tail(pool.dir().file("broker.log"), 1 << 20);
  EXPECT_NE(log.find("redis answers again"), std::string::npos) << "no write was ever held";
  check_restart_runs_nothing(pool, clients);
}

TEST(DurabilityTest, RedisStalledAnswersPingsExpiresNoWorkerAndLosesNothing) {
  // 300 steps of >= 35 ms: the jobs run through the whole stall and keep streaming from
  // memory once the broker knows Redis fails; their writes and DONEs wait for Redis.
  // With the broker's write journal (--journal): the writes held during the stall are
  // appended to it before their TOKENS go out, and it is empty once they are applied.
  TempDir journal_dir("rs-journal");
  const std::string journal = journal_dir.file("broker.journal");
  PoolOptions o = durable_pool(/*heartbeat_ms=*/200, /*step_delay_ms=*/35);
  o.broker_args = {"--journal", journal};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  pool.redis_server().set_aof(true);
  ASSERT_TRUE(pool.start());
  Clients clients(pool, kClients);
  submit_all(pool, clients, kJobs);
  WirePeer pinger(clients.ctx, pool.client_endpoint());
  ASSERT_TRUE(pinger.send(sc::Ping{.request_id = 1000}));  // connected before the stall
  ASSERT_TRUE(pinger.recv_as<sc::Pong>(10000).has_value());
  pool.redis_server().pause();  // SIGSTOP
  // Ten seconds of stall (the scenario): fifty heartbeats of 200 ms, sixteen expiry
  // windows. PINGs go one after the other all along; each is answered while Redis is still
  // stopped (the first once the writer's batch timed out), since SIGCONT comes only after.
  const auto stall_end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t pings = 0;
  size_t tokens_at_failure = 0;  // once the first PONG came: the broker knows Redis fails
  while (std::chrono::steady_clock::now() < stall_end) {
    ASSERT_TRUE(pinger.send(sc::Ping{.request_id = ++pings}));
    auto pong = pinger.recv(5000);
    ASSERT_TRUE(pong.has_value()) << "PING " << pings << " unanswered during the stall";
    auto* p = std::get_if<sc::Pong>(&*pong);
    ASSERT_NE(p, nullptr) << describe(pong);
    ASSERT_EQ(p->request_id, pings);
    clients.pump();
    if (pings == 1) tokens_at_failure = clients.tokens_received();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const size_t tokens_in_stall = clients.tokens_received() - tokens_at_failure;
  EXPECT_GT(tokens_in_stall, 1000u) << "the accepted jobs stopped streaming while Redis stalled";
  for (auto& c : clients.all) {
    for (auto& [job, s] : c->streams()) EXPECT_FALSE(s.done.has_value()) << job << ": DONE before its end was in Redis";
  }
  EXPECT_FALSE(submit_during_fault(pool, pinger, 100)) << "a job was accepted while Redis stalled";
  EXPECT_GT(std::filesystem::file_size(journal), 0u) << "nothing journaled during the stall";
  pool.redis_server().resume();  // SIGCONT
  std::printf("%llu PINGs answered during the stall, %zu tokens streamed meanwhile\n",
              static_cast<unsigned long long>(pings), tokens_in_stall);
  ASSERT_TRUE(clients.wait_all_done(120000)) << "jobs did not finish after the stall";
  check_agreement(pool, clients, kJobs);
  const std::string log = file_tail(pool.dir().file("broker.log"), 1 << 20);
  EXPECT_NE(log.find("redis answers again"), std::string::npos) << "no write was ever held";
  EXPECT_EQ(log.find(" lost: expired"), std::string::npos)
      << "a worker was expired during the stall";
  EXPECT_EQ(log.find("its connection dropped"), std::string::npos) << "a worker dropped its link";
  for (auto& c : clients.all) {
    for (auto& [job, s] : c->streams()) EXPECT_EQ(s.done->attempt, 1u) << job;
  }
  // The writer empties it right after applying the last batch in it (the DONEs may be read
  // just before).
  for (int i = 0; i < 200 && std::filesystem::file_size(journal) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(std::filesystem::file_size(journal), 0u) << "the journal was not emptied";
  check_restart_runs_nothing(pool, clients);
}

// The worker's death is noticed from its connection (heartbeats are far too slow to fire
// here); its jobs continue on attempt 2 where their logs end, and every output equals an
// uninterrupted run with the same seed.
TEST(DurabilityTest, KilledWorkerJobsResumeFromTheirLogs) {
  PoolOptions o = durable_pool(/*heartbeat_ms=*/60000);
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  constexpr size_t kResumeJobs = kJobs;  // 64 streams, as the issue asks
  Clients clients(pool, kClients);
  submit_all(pool, clients, kResumeJobs);
  pool.kill_worker(0);
  ASSERT_TRUE(clients.wait_all_done(120000)) << "jobs of the killed worker did not continue";
  // The uninterrupted runs: the same requests (same seeds) on the surviving worker.
  Clients reference(pool, 1);
  for (size_t j = 0; j < kResumeJobs; ++j) {
    std::string job;
    ASSERT_TRUE(reference.all[0]->submit(job_request(pool, j), &job));
  }
  ASSERT_TRUE(reference.wait_all_done(120000));
  size_t resumed = 0;
  for (auto& c : clients.all) {
    for (auto& [job, s] : c->streams()) {
      ASSERT_TRUE(s.done.has_value());
      EXPECT_EQ(s.done->state, sc::JobState::kSucceeded) << job << ": " << s.done->error;
      for (size_t i = 0; i < s.seqs.size(); ++i) ASSERT_EQ(s.seqs[i], i) << job;
      auto page = pool.token_log().read(job, 0, 100000);
      ASSERT_TRUE(page.ok());
      // Attempt 1's entries, then attempt 2's from the next seq on: nothing generated twice.
      uint32_t attempt = 1;
      for (size_t i = 0; i < page->entries.size(); ++i) {
        ASSERT_EQ(page->entries[i].seq, i) << job;
        ASSERT_GE(page->entries[i].attempt, attempt) << job << ": an older attempt after a newer";
        attempt = page->entries[i].attempt;
      }
      if (s.done->attempt > 1) ++resumed;
    }
  }
  EXPECT_GT(resumed, 0u) << "no job ran on the killed worker";
  // Each job's output against the uninterrupted run of the same request (by its prompt).
  std::map<std::string, std::vector<int32_t>> by_prompt_got, by_prompt_expected;
  for (auto& c : clients.all) {
    for (auto& [job, s] : c->streams()) {
      auto req = pool.job_store().load_request(job);
      ASSERT_TRUE(req.ok());
      by_prompt_got[req->prompt] = s.tokens;
    }
  }
  for (auto& [job, s] : reference.all[0]->streams()) {
    auto req = pool.job_store().load_request(job);
    ASSERT_TRUE(req.ok());
    by_prompt_expected[req->prompt] = s.tokens;
  }
  EXPECT_EQ(by_prompt_got, by_prompt_expected)
      << "a resumed output differs from an uninterrupted run";
}

// The log of a job as (token, attempt) pairs from seq 0 while contiguous (every page).
std::vector<std::pair<int32_t, uint32_t>> logged_tokens(Pool& pool, const std::string& job) {
  std::vector<std::pair<int32_t, uint32_t>> out;
  for (;;) {
    auto page = pool.token_log().read(job, out.size());
    if (!page.ok() || page->entries.empty()) return out;
    for (const auto& e : page->entries) {
      if (e.seq != out.size()) return out;
      out.emplace_back(e.token, e.attempt);
    }
    if (page->finished) return out;
  }
}

// The broker AND the worker are killed mid-stream, so no job can be adopted: the restarted
// broker requeues each after --recovery-wait-ms with the tokens its log holds, the new
// worker resumes after them (attempt 2 from seq n on, nothing generated again) and every
// output equals an uninterrupted run with the same seed.
TEST(DurabilityTest, BrokerAndWorkerKilledJobsResumeFromTheirLogsAfterARestart) {
  PoolOptions o = durable_pool();
  o.workers = 1;
  // Requeued jobs wait for the new worker however long it takes to start.
  o.broker_args = {"--recovery-wait-ms", "500", "--model-wait-ms", "120000",
                   "--queue-timeout-ms", "120000"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  constexpr size_t kResumeJobs = 16;
  std::vector<std::string> jobs;
  {
    Clients clients(pool, kClients);
    submit_all(pool, clients, kResumeJobs);
    // Mid-stream: every job has some tokens delivered (so logged), none all of them.
    ASSERT_TRUE(Pool::poll_until(60000, [&] {
      clients.pump();
      for (auto& c : clients.all) {
        for (auto& [job, s] : c->streams()) {
          if (s.seqs.size() < 10) return false;
        }
      }
      return true;
    }));
    for (auto& c : clients.all) {
      for (auto& [job, s] : c->streams()) jobs.push_back(job);
    }
    pool.kill_broker();
    pool.kill_worker(0);
  }
  ASSERT_EQ(jobs.size(), kResumeJobs);
  std::map<std::string, size_t> n_logged;  // Redis is frozen: nobody writes to it now
  for (const std::string& job : jobs) {
    n_logged[job] = logged_tokens(pool, job).size();
    ASSERT_GT(n_logged[job], 0u) << job;
    ASSERT_LT(n_logged[job], kTokens) << job;
  }
  ASSERT_TRUE(pool.restart_broker());
  Clients resumed(pool, kClients);  // subscribed from seq 0 before any worker is back
  for (size_t j = 0; j < jobs.size(); ++j) {
    ASSERT_TRUE(resumed.all[j % kClients]->subscribe(jobs[j], 0));
  }
  ASSERT_GE(pool.add_worker("w2"), 0);
  ASSERT_TRUE(resumed.wait_all_done(120000)) << "the recovered jobs did not finish";
  for (auto& c : resumed.all) {
    for (auto& [job, s] : c->streams()) {
      const size_t n = n_logged.at(job);
      ASSERT_TRUE(s.done.has_value()) << job;
      EXPECT_EQ(s.n_done, 1u) << job;
      EXPECT_EQ(s.done->state, sc::JobState::kSucceeded) << job << ": " << s.done->error;
      EXPECT_EQ(s.done->attempt, 2u) << job;
      EXPECT_EQ(s.done->worker, "w2") << job;
      ASSERT_EQ(s.seqs.size(), kTokens) << job << ": a gap or a repeat";
      for (size_t i = 0; i < s.seqs.size(); ++i) {
        ASSERT_EQ(s.seqs[i], i) << job;
        // The log's tokens (attempt 1) up to n, then the new attempt's: it started at n.
        ASSERT_EQ(s.attempts[i], i < n ? 1u : 2u) << job << " seq " << i << " (logged " << n << ")";
      }
      // In Redis too: attempt 1's entries, then attempt 2's from seq n on.
      auto log = logged_tokens(pool, job);
      ASSERT_EQ(log.size(), kTokens) << job << ": hole in the token log";
      for (size_t i = 0; i < log.size(); ++i) {
        ASSERT_EQ(log[i].first, s.tokens[i]) << job;
        ASSERT_EQ(log[i].second, i < n ? 1u : 2u) << job << " seq " << i;
      }
    }
  }
  const std::string log = file_tail(pool.dir().file("broker-2.log"), 1 << 20);
  EXPECT_NE(log.find(std::to_string(kResumeJobs) + " of " + std::to_string(kResumeJobs) +
                     " recovered job(s) resume after their logged tokens"),
            std::string::npos);
  // Each output against the uninterrupted run of the same request (same seed) on w2.
  Clients reference(pool, 1);
  for (size_t j = 0; j < kResumeJobs; ++j) {
    std::string job;
    ASSERT_TRUE(reference.all[0]->submit(job_request(pool, j), &job));
  }
  ASSERT_TRUE(reference.wait_all_done(120000));
  std::map<std::string, std::vector<int32_t>> by_prompt_got, by_prompt_expected;
  for (auto& c : resumed.all) {
    for (auto& [job, s] : c->streams()) {
      by_prompt_got[pool.job_store().load_request(job)->prompt] = s.tokens;
    }
  }
  for (auto& [job, s] : reference.all[0]->streams()) {
    EXPECT_EQ(s.done->attempt, 1u);
    by_prompt_expected[pool.job_store().load_request(job)->prompt] = s.tokens;
  }
  EXPECT_EQ(by_prompt_got.size(), kResumeJobs);
  EXPECT_EQ(by_prompt_got, by_prompt_expected)
      << "a resumed output differs from an uninterrupted run";
  EXPECT_EQ(redis_int(pool, {"ZCARD", "rs:live"}), 0);
}

}  // namespace
}  // namespace rs::test::durability
