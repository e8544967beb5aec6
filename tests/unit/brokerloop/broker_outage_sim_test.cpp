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
#include "scripted_workers.h"

namespace rs::broker::testing {
namespace outage_sim_test {

struct ClientJob {  // a job as its submitter saw it
  size_t client = 0;
  std::vector<uint64_t> seqs;
  int dones = 0;
  std::optional<sc::JobRecord> done;
};

class BrokerOutageSimTest : public BrokerLoopTest {
 protected:
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
  bool all_ended() const {
    if (answered_.size() != submitted_) return false;
    for (const auto& [id, j] : jobs_) {
      if (j.dones == 0) return false;
    }
    return true;
  }

  // The whole run; journal: the broker's --journal ("" = none).
  void run_sim(const std::string& journal);

  ScriptedWorkers workers_;
  std::vector<std::unique_ptr<Peer>> clients_;
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
  workers_.add(worker("w1", 4));
  workers_.add(worker("w2", 4));
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
      if (auto h = workers_.pick(rng)) workers_.stream(h->first, h->second, 1 + rng() % 4);
    } else if (r < 76) {
      if (auto h = workers_.pick(rng)) workers_.end(h->first, h->second);
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
    workers_.pump();
    pump_clients();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (paused) redis_.resume();
  // Every job still held ends; queued ones are dispatched and end too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!all_ended() && std::chrono::steady_clock::now() < deadline) {
    workers_.pump();
    workers_.end_all();
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

TEST_F(BrokerOutageSimTest, RandomTrafficWhileRedisStopsAndStartsLosesNothing) {
  run_sim("");
}

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
