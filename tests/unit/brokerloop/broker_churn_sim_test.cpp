// A randomized run of the whole broker (issue 14) under every fault it must absorb at once:
// Redis stopped (SIGSTOP) and started, workers whose connection drops (and that come back)
// and whose attempts fail, clients that stop reading (and are cut off `lagged`, with a
// small --max-client-lag), clients that SUBSCRIBE again to their own jobs and clients
// whose connection drops (their jobs are cancelled unless detached). Whatever
// the timing: every SUBMIT is answered once; every accepted job ends once in the broker;
// each client's stream of a job has no gap (and no repeat unless it subscribed again);
// every DONE a client gets for a job says the same; and Redis then holds what the clients
// received (state, token log with its final marker), no refused job, and an empty live
// index; the broker's JobTable is empty. RS_SIM_SEED picks the seed (printed).
// Real BrokerLoop, Redis and DEALER peers.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "broker_fixture.h"
#include "scripted_workers.h"

namespace rs::broker::testing {
namespace churn_sim_test {

constexpr uint64_t kSubscribeIds = 1'000'000;  // request ids of SUBSCRIBEs start here

struct ClientJob {  // a job as its submitter saw it
  size_t client = 0;
  std::vector<uint64_t> seqs;  // contiguous from 0 (repeats and gaps are counted apart)
  int dones = 0;
  std::optional<sc::JobRecord> done;
  bool resubscribed = false;  // it SUBSCRIBEd again (a repeat may then arrive)
  bool detach = false;        // submitted detached: runs on when its submitter goes
  bool orphaned = false;      // its submitter's connection dropped before its DONE
  bool cancel_sent = false;
  int repeats = 0;
  int gaps = 0;
  int done_mismatches = 0;
};

class BrokerChurnSimTest : public BrokerLoopTest {
 protected:
  static constexpr uint32_t kSlots = 4;

  void on_tokens(const sc::TokenBatch& t) {
    for (const auto& e : t.entries) {
      ClientJob& j = jobs_[e.job_id];
      if (e.seq == j.seqs.size()) {
        j.seqs.push_back(e.seq);
      } else if (e.seq > j.seqs.size()) {
        ++j.gaps;
      } else if (!j.resubscribed) {
        ++j.repeats;
      }
    }
  }
  void on_done(const sc::Done& d) {
    ClientJob& j = jobs_[d.record.job_id];
    if (j.done && j.done->state != d.record.state) ++j.done_mismatches;
    ++j.dones;
    j.done = d.record;
  }
  void subscribe_again(const std::string& job) {
    ClientJob& j = jobs_[job];
    if (j.orphaned) return;
    j.resubscribed = true;
    clients_[j.client]->send(sc::SubscribeRequest{
        .request_id = kSubscribeIds + ++subscribes_, .job_id = job, .from_seq = j.seqs.size()});
  }
  void on_error(const sc::ErrorReply& e) {
    if (e.code == sc::ErrorCode::kLagged) {
      ++lagged_;
      ClientJob& j = jobs_[e.job_id];
      EXPECT_TRUE(e.next_seq.has_value());
      // Everything below next_seq came through (a gap would show in on_tokens).
      if (e.next_seq) {
        EXPECT_LE(*e.next_seq, j.seqs.size()) << e.job_id;
      }
      subscribe_again(e.job_id);
    } else if (e.request_id >= kSubscribeIds && !e.job_id.empty()) {
      retry_subscribe_.insert(e.job_id);  // e.g. `unavailable`: asked again later
    }
  }
  void pump_clients(int step) {
    for (size_t c = 0; c < clients_.size(); ++c) {
      if (step < stalled_until_[c]) continue;  // it stopped reading for a while
      while (auto m = clients_[c]->recv(0)) {
        if (auto* a = std::get_if<sc::Accepted>(&*m)) {
          answered_.insert(a->request_id);
          jobs_[a->job_id].client = c;
          jobs_[a->job_id].detach = pending_[a->request_id].second;
          pending_.erase(a->request_id);
        } else if (auto* r = std::get_if<sc::Rejected>(&*m)) {
          answered_.insert(r->request_id);
          pending_.erase(r->request_id);
          ++rejected_;
        } else if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
          on_tokens(*t);
        } else if (auto* d = std::get_if<sc::Done>(&*m)) {
          on_done(*d);
        } else if (auto* e = std::get_if<sc::ErrorReply>(&*m)) {
          on_error(*e);
        }
      }
    }
  }
  void reconnect_all() {
    for (size_t w = 0; w < workers_.size(); ++w) {
      if (!workers_.connected(w)) workers_.reconnect(w, worker(worker_ids_[w], kSlots));
    }
  }
  bool all_ended() const {
    if (answered_.size() + abandoned_ != submitted_) return false;
    for (const auto& [id, j] : jobs_) {
      if (j.dones == 0 && !j.orphaned) return false;
    }
    return true;
  }
  // Client c's connection drops (a new one takes its place): its jobs without a DONE are
  // orphaned (streaming ones not detached are cancelled by the broker), its unanswered
  // SUBMITs are abandoned (any job they made is no client's).
  void drop_client(size_t c) {
    for (auto& [id, j] : jobs_) {
      if (j.client == c && j.dones == 0) j.orphaned = true;
    }
    std::erase_if(pending_, [&](const auto& p) {
      if (p.second.first != c) return false;
      ++abandoned_;
      return true;
    });
    std::erase_if(retry_subscribe_, [&](const std::string& job) { return jobs_[job].orphaned; });
    clients_[c] = client("c" + std::to_string(c) + "-" + std::to_string(++client_gen_));
    stalled_until_[c] = 0;
    ++client_drops_;
  }
  void check_orphans();
  void random_step(std::mt19937_64& rng, int step, bool& paused, uint64_t& request_id);
  void check_end_state();

  std::vector<std::string> worker_ids_{"w1", "w2"};
  ScriptedWorkers workers_;
  std::vector<std::unique_ptr<Peer>> clients_;
  std::vector<int> stalled_until_;
  std::map<std::string, ClientJob> jobs_;
  std::set<std::string> retry_subscribe_;
  std::map<uint64_t, std::pair<size_t, bool>> pending_;  // SUBMIT request id -> (client, detach)
  size_t abandoned_ = 0, client_gen_ = 0, client_drops_ = 0;
  std::set<uint64_t> answered_;
  size_t submitted_ = 0, rejected_ = 0, subscribes_ = 0, lagged_ = 0;
  size_t pauses_ = 0, drops_ = 0, failures_ = 0, stalls_ = 0;
};

void BrokerChurnSimTest::random_step(std::mt19937_64& rng, int step, bool& paused,
                                     uint64_t& request_id) {
  const int r = static_cast<int>(rng() % 100);
  if (r < 20) {
    auto request = submit(++request_id);
    request.stream = true;
    request.max_tokens = 4096;
    request.detach = rng() % 3 == 0;
    const size_t c = rng() % clients_.size();
    pending_[request_id] = {c, request.detach};
    clients_[c]->send(request);
    ++submitted_;
  } else if (r < 56) {
    if (auto h = workers_.pick(rng)) workers_.stream(h->first, h->second, 1 + rng() % 6);
  } else if (r < 67) {
    if (auto h = workers_.pick(rng)) workers_.end(h->first, h->second);
  } else if (r < 70) {
    if (auto h = workers_.pick(rng)) {
      workers_.fail(h->first, h->second);
      ++failures_;
    }
  } else if (r < 73) {
    if (!jobs_.empty()) {
      auto it = jobs_.begin();
      std::advance(it, static_cast<long>(rng() % jobs_.size()));
      clients_[it->second.client]->send(sc::CancelRequest{.request_id = 0, .job_id = it->first});
      it->second.cancel_sent = true;
    }
  } else if (r < 78) {
    paused ? redis_.resume() : redis_.pause();
    paused = !paused;
    pauses_ += paused ? 1 : 0;
  } else if (r < 80) {
    const size_t w = rng() % workers_.size();
    if (workers_.connected(w) && workers_.n_connected() > 1) {  // its jobs move on
      workers_.drop(w);
      ++drops_;
    }
  } else if (r < 83) {
    if (!paused)
      reconnect_all();  // READY's acknowledgement does not wait for Redis, but
                        // keep the fixture's bounded wait clear of a stall
  } else if (r < 86) {
    const size_t c = rng() % clients_.size();
    stalled_until_[c] = step + 5 + static_cast<int>(rng() % 25);
    ++stalls_;
  } else if (r < 87) {
    drop_client(rng() % clients_.size());
  } else if (r < 90) {
    if (!jobs_.empty()) {
      auto it = jobs_.begin();
      std::advance(it, static_cast<long>(rng() % jobs_.size()));
      if (it->second.dones == 0 && step >= stalled_until_[it->second.client]) {
        subscribe_again(it->first);
      }
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
}

void BrokerChurnSimTest::check_end_state() {
  size_t not_done = 0;
  for (const auto& [id, j] : jobs_) not_done += j.dones == 0 && !j.orphaned ? 1 : 0;
  ASSERT_TRUE(all_ended()) << submitted_ - answered_.size() - abandoned_
                           << " SUBMIT(s) never answered, " << not_done
                           << " job(s) never ended; replies dropped: "
                           << loop_->counters().client_drops.load();
  EXPECT_GT(jobs_.size(), 0u);
  check_orphans();
  for (const auto& [id, j] : jobs_) {
    EXPECT_EQ(j.gaps, 0) << id << ": a gap in the stream";
    if (j.orphaned) continue;  // checked by check_orphans
    EXPECT_EQ(j.repeats, 0) << id << ": a repeat without a new SUBSCRIBE";
    EXPECT_EQ(j.done_mismatches, 0) << id << ": DONEs that disagree";
    if (!j.resubscribed) {
      EXPECT_EQ(j.dones, 1) << id << " ended more than once";
    }
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
  // Each job in Redis ended exactly once in the broker; one no client was told of can only
  // come from a SUBMIT whose client dropped before its answer.
  EXPECT_EQ(loop_->counters().finished.load(), hashes->elements.size()) << "a job ended twice";
  EXPECT_GE(hashes->elements.size(), jobs_.size());
  EXPECT_LE(hashes->elements.size(), jobs_.size() + abandoned_)
      << "Redis holds a job no client was told of";
}

// Jobs whose submitter dropped: each ends (a detached one SUCCEEDED unless it was
// cancelled; another CANCELLED by the broker, or SUCCEEDED if it ended first), with a
// finished log that starts with what its client had received.
void BrokerChurnSimTest::check_orphans() {
  for (const auto& [id, j] : jobs_) {
    if (!j.orphaned) continue;
    auto record = store_->load(id);
    ASSERT_TRUE(record.ok()) << id << ": " << record.status().to_string();
    ASSERT_TRUE(sc::is_terminal(record->state)) << id;
    if (j.detach && !j.cancel_sent) {
      EXPECT_EQ(record->state, sc::JobState::kSucceeded) << id << ": a detached job was cancelled";
    } else {
      EXPECT_NE(record->state, sc::JobState::kFailed) << id;
    }
    auto log = log_->read(id, 0, 100000);
    ASSERT_TRUE(log.ok()) << id;
    EXPECT_TRUE(log->finished) << id << ": no final marker";
    EXPECT_EQ(log->n_tokens, log->entries.size()) << id;
    ASSERT_GE(log->entries.size(), j.seqs.size()) << id;
    for (size_t i = 0; i < log->entries.size(); ++i) {
      ASSERT_EQ(log->entries[i].seq, i) << id << ": a hole in the log";
    }
  }
}

TEST_F(BrokerChurnSimTest, RedisStallsWorkerDropsLagsAndResubscribesLoseNothing) {
  const char* env = std::getenv("RS_SIM_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : 15;
  std::printf("seed %llu (RS_SIM_SEED)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  BrokerOptions o;
  o.store_timeout_ms = 150;
  o.heartbeat_ms = 60000;  // the scripted workers send no heartbeats
  o.max_attempts = 1000;   // failures and drops requeue; none uses the attempts up
  // Tiny client queues: a turn's burst to one client may find its queue full even while it
  // reads (the socket buffers behind it hold megabytes, so a stall alone rarely fills it).
  o.client_sndhwm = 3;
  o.client_timeout_ms = 0;  // a stalled client is slow, not gone
  start_broker_with(o);
  for (const std::string& id : worker_ids_) workers_.add(worker(id, kSlots));
  for (int c = 0; c < 3; ++c) clients_.push_back(client("c" + std::to_string(c)));
  stalled_until_.assign(clients_.size(), 0);
  bool paused = false;
  uint64_t request_id = 0;
  constexpr int kSteps = 500;
  for (int step = 0; step < kSteps; ++step) {
    random_step(rng, step, paused, request_id);
    workers_.pump();
    pump_clients(step);
    if (!paused && !retry_subscribe_.empty()) {
      for (const std::string& job : retry_subscribe_) subscribe_again(job);
      retry_subscribe_.clear();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (paused) redis_.resume();
  std::fill(stalled_until_.begin(), stalled_until_.end(), 0);
  reconnect_all();
  // Every job still held ends; requeued and queued ones are dispatched and end too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!(all_ended() && loop_->counters().live_jobs.load() == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    workers_.pump();
    workers_.end_all();
    pump_clients(kSteps);
    for (const std::string& job : retry_subscribe_) subscribe_again(job);
    retry_subscribe_.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::printf(
      "%zu SUBMITs: %zu accepted, %zu refused, %zu abandoned; Redis stopped %zu times; %zu "
      "worker drops, %zu failed attempts; %zu client stalls, %zu lagged, %zu SUBSCRIBEs "
      "again, %zu client drops\n",
      submitted_, jobs_.size(), rejected_, abandoned_, pauses_, drops_, failures_, stalls_, lagged_,
      subscribes_, client_drops_);
  check_end_state();
}

}  // namespace churn_sim_test
}  // namespace rs::broker::testing
