// A randomized run of the whole broker state (BrokerState: every decision the broker
// makes, without its sockets and threads) against a simulated pool, store and clients
// (broker_state_sim.h), with every fault at once: the store stops answering (and applies a
// batch whose reply is then lost, so the batch is applied twice), workers' connections drop
// (their jobs resume elsewhere from the log) and come back, attempts fail, clients stop
// reading (they are `lagged` and SUBSCRIBE again), cancel, and go away; in the second test
// the broker is also killed and started again. Deterministic per seed; RS_SIM_SEED=N runs
// seed N only. Checks what the broker promises: every SUBMIT answered once; every accepted
// job ended once in the store and in the state; logs without holes whose tokens are the
// ones the job's position gives (no token generated twice differently, resumes continue
// the same output); clients saw exactly the store's tokens and end state; no refused job
// in the store; nothing left live.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "broker_state_sim.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity
namespace sc = rs::schemas;
using rs::broker::sim::BrokerStateSim;
using rs::broker::sim::SimClient;
using rs::broker::sim::SimStore;
using rs::broker::sim::token_at;

void check_sim(const BrokerStateSim& sim) {
  const SimStore& store = sim.store_;
  for (const std::string& id : store.live) {
    auto it = store.jobs.find(id);
    ADD_FAILURE() << id << " left in the live index ("
                  << (it == store.jobs.end() ? std::string("no hash")
                                             : std::string(sc::job_state_name(it->second.record.state)))
                  << ")";
  }
  EXPECT_EQ(sim.state_->jobs().n_entries(), 0u);
  EXPECT_TRUE(store.violations.empty()) << store.violations.front();
  std::map<std::string, std::pair<const SimClient*, uint64_t>> submitter;  // prompt -> client, rid
  for (const SimClient& c : sim.clients()) {
    for (const auto& [rid, prompt] : c.submitted) submitter[prompt] = {&c, rid};
  }
  for (const auto& [id, job] : store.jobs) {
    EXPECT_TRUE(sc::is_terminal(job.record.state)) << id;
    // Every job in the store was accepted (or its client went away before the answer).
    auto who = submitter.find(job.request.prompt);
    ASSERT_NE(who, submitter.end()) << id;
    const SimClient& c = *who->second.first;
    auto answer = c.answers.find(who->second.second);
    if (answer != c.answers.end()) {
      EXPECT_EQ(answer->second, id) << "job " << id << " in the store, its SUBMIT got "
                                    << (answer->second.empty() ? "REJECTED" : answer->second);
    } else {
      EXPECT_TRUE(c.gone || c.lost.count(who->second.second))
          << c.id << " request " << who->second.second << " never answered";
    }
    // A log with no hole, its marker at its end, the job's own tokens.
    const auto log = store.logs.find(id);
    const size_t n = log == store.logs.end() ? 0 : log->second.size();
    auto marker = store.markers.find(id);
    ASSERT_NE(marker, store.markers.end()) << id << ": no final marker";
    EXPECT_EQ(marker->second, n) << id;
    EXPECT_EQ(job.record.usage.completion_tokens, n) << id;
    for (size_t s = 0; s < n; ++s) {
      auto e = log->second.find(s);
      ASSERT_NE(e, log->second.end()) << id << ": hole at " << s;
      EXPECT_EQ(e->second, token_at(id, s)) << id << " seq " << s;
    }
    if (job.record.state == sc::JobState::kSucceeded) {
      EXPECT_EQ(n, job.request.max_tokens) << id;
    }
    // What each client that followed it saw is the store's.
    for (const SimClient& cl : sim.clients()) {
      auto j = cl.jobs.find(id);
      if (cl.gone || j == cl.jobs.end() || !j->second.done) continue;
      EXPECT_EQ(j->second.state, job.record.state) << cl.id << " " << id;
      EXPECT_EQ(j->second.completion_tokens, n) << cl.id << " " << id;
      if (!j->second.streamed) continue;
      EXPECT_EQ(j->second.next_seq, n) << cl.id << " " << id;
    }
  }
  for (const SimClient& c : sim.clients()) {
    if (c.gone) continue;
    for (const auto& [rid, prompt] : c.submitted) {
      EXPECT_TRUE(c.answers.count(rid) || c.lost.count(rid)) << c.id << " request " << rid;
    }
    for (const auto& [id, j] : c.jobs) {
      EXPECT_TRUE(j.done) << c.id << " " << id << ": no DONE";
      EXPECT_TRUE(store.jobs.count(id)) << c.id << " " << id << ": accepted, not in the store";
    }
  }
  // Each job ended once (a restart loses no end: the journal keeps what was staged).
  EXPECT_EQ(sim.finished_before() + sim.state_->counters().finished.load(), store.jobs.size());
}

uint64_t n_restarts = 0;

void run_sim(uint64_t seed, bool restarts) {
  BrokerStateSim sim(seed, restarts);
  for (int i = 0; i < 3000; ++i) {
    sim.step(/*faults=*/true);
    ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed << " step " << i;
  }
  sim.heal();
  for (int i = 0; i < 20000 && !sim.settled(); ++i) sim.step(/*faults=*/false);
  ASSERT_TRUE(sim.settled()) << "seed " << seed << ": did not settle";
  check_sim(sim);
  EXPECT_GT(sim.store_.jobs.size(), 20u) << "seed " << seed;
  n_restarts += sim.restarts();
}

std::vector<uint64_t> seeds(uint64_t n) {
  if (const char* s = std::getenv("RS_SIM_SEED")) return {std::strtoull(s, nullptr, 10)};
  std::vector<uint64_t> out;
  for (uint64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

TEST(BrokerStateSimTest, EveryFaultAtOnceLosesNothing) {
  for (uint64_t seed : seeds(40)) {
    run_sim(seed, /*restarts=*/false);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "seed " << seed;
  }
}

// The same with the broker killed and started again now and then (its journal kept).
TEST(BrokerStateSimTest, BrokerRestartsRecoverEveryJobAndLoseNothing) {
  n_restarts = 0;
  for (uint64_t seed : seeds(30)) {
    run_sim(seed, /*restarts=*/true);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "seed " << seed;
  }
  if (std::getenv("RS_SIM_SEED") == nullptr) EXPECT_GT(n_restarts, 30u);
}

}  // namespace
