// A randomized run of the whole broker (issue 14) with Redis stopped (SIGSTOP) and started
// again at random: clients submit streaming jobs and cancel some, two scripted workers
// stream tokens and end jobs in random order. Whatever the timing, every SUBMIT is
// answered once; every accepted job ends exactly once with a gap-free stream; and Redis
// then holds what the clients received (state, token log with its final marker), no
// refused job, and an empty live index. RS_SIM_SEED picks the seed (printed). Run without
// and with the broker's write journal.
// Real BrokerLoop, Redis and DEALER peers.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "broker_fixture.h"
#include "child_process.h"

namespace rs::broker::testing {
namespace outage_sim_test {

struct HeldJob {  // a job as its scripted worker holds it
  uint32_t attempt = 0;
  uint64_t next_seq = 0;
};

struct ClientJob {  // a job as its submitter saw it
  size_t client = 0;
  std::vector<uint64_t> seqs;
  int dones = 0;
  std::optional<sc::JobRecord> done;
};

class BrokerOutageSimTest : public BrokerLoopTest {
 protected:
  void pump_workers() {
    for (size_t w = 0; w < workers_.size(); ++w) {
      while (auto m = workers_[w]->recv(0)) {
        if (auto* d = std::get_if<sc::Dispatch>(&*m)) {
          held_[w][d->job_id] = HeldJob{d->attempt, d->resume_tokens.size()};
        } else if (auto* c = std::get_if<sc::CancelJob>(&*m)) {
          auto it = held_[w].find(c->job_id);
          if (it == held_[w].end() || it->second.attempt != c->attempt) continue;
          workers_[w]->send(sc::WorkerDone{.job_id = c->job_id,
                                           .attempt = c->attempt,
                                           .device = 0,
                                           .finish_reason = "cancelled"});
          held_[w].erase(it);
        }
      }
    }
  }
  void pump_clients() {
    for (size_t c = 0; c < clients_.size(); ++c) {
      while (auto m = clients_[c]->recv(0)) {
        if (auto* a = std::get_if<sc::Accepted>(&*m)) {
          answered_.insert(a->request_id);
          jobs_[a->job_id].client = c;
        } else if (auto* r = std::get_if<sc::Rejected>(&*m)) {
          answered_.insert(r->request_id);
          ++rejected_;
        } else if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
          for (const auto& e : t->entries) jobs_[e.job_id].seqs.push_back(e.seq);
        } else if (auto* d = std::get_if<sc::Done>(&*m)) {
          ClientJob& j = jobs_[d->record.job_id];
          ++j.dones;
          j.done = d->record;
        }
      }
    }
  }
  // A random job some worker holds: (worker, id), or nullopt.
  std::optional<std::pair<size_t, std::string>> pick_held(std::mt19937_64& rng) {
    const size_t w = rng() % workers_.size();
    if (held_[w].empty()) return std::nullopt;
    auto it = held_[w].begin();
    std::advance(it, static_cast<long>(rng() % held_[w].size()));
    return std::make_pair(w, it->first);
  }
  void stream(size_t w, const std::string& job, uint64_t n) {
    HeldJob& h = held_[w][job];
    workers_[w]->send(
        sc::WorkerTokens{.entries = tokens(job, h.attempt, h.next_seq, h.next_seq + n)});
    h.next_seq += n;
  }
  void end(size_t w, const std::string& job) {
    const HeldJob h = held_[w][job];
    workers_[w]->send(
        sc::WorkerDone{.job_id = job,
                       .attempt = h.attempt,
                       .device = 0,
                       .usage = sc::Usage{.completion_tokens = static_cast<uint32_t>(h.next_seq)},
                       .finish_reason = "length"});
    held_[w].erase(job);
  }
  bool all_ended() const {
    if (answered_.size() != submitted_) return false;
    for (const auto& [id, j] : jobs_) {
      if (j.dones == 0) return false;
    }
    return true;
  }

  // The whole run; journal: the broker's --journal ("" = none).
  void run_sim(const std::string& journal);

  std::vector<std::unique_ptr<Peer>> workers_;
  std::vector<std::unique_ptr<Peer>> clients_;
  std::vector<std::map<std::string, HeldJob>> held_;
  std::map<std::string, ClientJob> jobs_;
  std::set<uint64_t> answered_;
  size_t submitted_ = 0;
  size_t rejected_ = 0;
};

void BrokerOutageSimTest::run_sim(const std::string& journal) {
  const char* env = std::getenv("RS_SIM_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : 14;
  std::printf("seed %llu (RS_SIM_SEED)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  BrokerOptions o;
  o.store_timeout_ms = 150;
  o.heartbeat_ms = 60000;  // the scripted workers send no heartbeats
  o.journal_path = journal;
  start_broker_with(o);
  workers_.push_back(worker("w1", 4));
  workers_.push_back(worker("w2", 4));
  held_.resize(2);
  for (int c = 0; c < 3; ++c) clients_.push_back(client("c" + std::to_string(c)));
  bool paused = false;
  size_t pauses = 0;
  uint64_t request_id = 0;
  for (int step = 0; step < 400; ++step) {
    const int r = static_cast<int>(rng() % 100);
    if (r < 22) {
      auto request = submit(++request_id);
      request.stream = true;
      request.max_tokens = 4096;
      clients_[rng() % clients_.size()]->send(request);
      ++submitted_;
    } else if (r < 62) {
      if (auto h = pick_held(rng)) stream(h->first, h->second, 1 + rng() % 4);
    } else if (r < 76) {
      if (auto h = pick_held(rng)) end(h->first, h->second);
    } else if (r < 80) {
      if (!jobs_.empty()) {
        auto it = jobs_.begin();
        std::advance(it, static_cast<long>(rng() % jobs_.size()));
        clients_[it->second.client]->send(sc::CancelRequest{.request_id = 0, .job_id = it->first});
      }
    } else if (r < 86) {
      paused ? redis_.resume() : redis_.pause();
      paused = !paused;
      pauses += paused ? 1 : 0;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pump_workers();
    pump_clients();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (paused) redis_.resume();
  // Every job still held ends; queued ones are dispatched and end too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!all_ended() && std::chrono::steady_clock::now() < deadline) {
    pump_workers();
    for (size_t w = 0; w < held_.size(); ++w) {
      while (!held_[w].empty()) end(w, held_[w].begin()->first);
    }
    pump_clients();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::printf("%zu SUBMITs: %zu accepted, %zu refused; Redis stopped %zu times\n", submitted_,
              jobs_.size(), rejected_, pauses);
  ASSERT_TRUE(all_ended()) << "a SUBMIT was never answered or a job never ended";
  EXPECT_GT(jobs_.size(), 0u);
  for (const auto& [id, j] : jobs_) {
    EXPECT_EQ(j.dones, 1) << id << " ended more than once";
    for (size_t i = 0; i < j.seqs.size(); ++i) ASSERT_EQ(j.seqs[i], i) << id << ": gap or repeat";
    auto record = store_->load(id);
    ASSERT_TRUE(record.ok()) << id << ": " << record.status().to_string();
    EXPECT_EQ(record->state, j.done->state) << id;
    auto log = log_->read(id, 0, 100000);
    ASSERT_TRUE(log.ok()) << id;
    std::vector<uint64_t> logged;
    for (const auto& e : log->entries) logged.push_back(e.seq);
    EXPECT_EQ(logged, j.seqs) << id << ": Redis's log differs from what the client received";
    EXPECT_TRUE(log->finished) << id << ": no final marker";
    EXPECT_EQ(log->n_tokens, j.seqs.size()) << id;
  }
  auto live = conn_->command({"ZCARD", keys_.live()});
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->integer, 0) << "rs:live holds jobs that ended";
  EXPECT_EQ(loop_->counters().live_jobs.load(), 0u) << "the JobTable holds jobs that ended";
  auto hashes = conn_->command({"KEYS", keys_.job("*")});
  ASSERT_TRUE(hashes.ok());
  EXPECT_EQ(hashes->elements.size(), jobs_.size()) << "Redis holds a job no client was told of";
}

TEST_F(BrokerOutageSimTest, RandomTrafficWhileRedisStopsAndStartsLosesNothing) { run_sim(""); }

// The same run with the write journal on: TOKENS go out from memory only once their batch
// is journaled (in turn order), and the journal is empty once every held write is applied.
TEST_F(BrokerOutageSimTest, WithAJournalRandomTrafficLosesNothingAndEmptiesIt) {
  rs::test::TempDir dir("rs-journal-sim");
  const std::string journal = dir.file("broker.journal");
  run_sim(journal);
  std::error_code ec;
  for (int i = 0; i < 200 && std::filesystem::file_size(journal, ec) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(std::filesystem::file_size(journal, ec), 0u) << "the journal was not emptied";
}

}  // namespace outage_sim_test
}  // namespace rs::broker::testing
