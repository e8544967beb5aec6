// BrokerStateSim: BrokerState driven by a simulated pool for broker_state_sim_test: a
// ManualClock, workers that run and stream jobs (tokens given by their position, so a
// resumed attempt continues the same output), clients that submit, stall, follow,
// cancel and go away, a SimStore that stops answering or loses replies, and (optionally)
// broker restarts. The sim is the state's BrokerPorts. RS_SIM_TRACE=<job id> prints that
// job's messages and store writes. One test thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "broker_state_sim_store.h"
#include "broker_state_sim_trace.h"
#include "rs/broker/broker_state.h"
#include "rs/core/clock.h"
#include "rs/schemas/frames.h"

namespace rs::broker::sim {

namespace sc = rs::schemas;


struct SimJob {  // a job as one of its clients sees it
  uint64_t next_seq = 0;
  std::vector<int32_t> tokens;
  bool done = false;
  sc::JobState state = sc::JobState::kQueued;
  uint64_t completion_tokens = 0;
  bool lagged = false;  // told `lagged`: SUBSCRIBEs again once it reads
  bool subscribed = false;
  bool streamed = false;  // its tokens come to this client (its stream, or a SUBSCRIBE)
};

struct SimClient {
  std::string id;
  int fd = 0;
  bool stalled = false;
  bool gone = false;
  uint64_t next_request = 1;
  std::map<uint64_t, std::string> submitted;  // request id -> prompt
  std::map<uint64_t, bool> stream_of;         // request id -> SUBMIT's stream
  std::map<uint64_t, std::string> answers;    // request id -> job id ("" = rejected)
  std::map<std::string, SimJob> jobs;         // streamed or subscribed jobs
  std::set<uint64_t> lost;                    // SUBMITs a broker restart left unanswered
  std::set<std::string> accepted;             // job ids (duplicates included)
  std::deque<sc::Frames> outbox;
};

struct SimRun {  // a job on a simulated worker's device
  std::string job;
  uint32_t attempt = 0;
  uint64_t first_seq = 0;  // this attempt's first (after the resumed tokens)
  uint64_t next_seq = 0;
  uint32_t max_tokens = 0;
};

struct SimWorker {
  std::string id;
  RoutingIds route;
  int fd = 0;
  bool connected = false;
  int down_steps = 0;
  int64_t next_beat_ns = 0;
  std::vector<SimRun> running;
  std::deque<sc::Frames> outbox;
};

class BrokerStateSim : public BrokerPorts {
 public:
  explicit BrokerStateSim(uint64_t seed, bool restarts = false)
      : rng_(seed), seed_(seed), restarts_(restarts) {
    BrokerStateOptions& o = options_;
    o.max_queued = 200;
    o.heartbeat_ms = 1000;
    o.queue_timeout_ms = 60000;
    o.client_sndhwm = 3;
    o.client_timeout_ms = 0;  // clients go away by their connection only
    o.ingest_batch = 0;
    o.max_attempts = 1000;  // worker churn must not fail jobs: every job runs to its end
    o.recovery_wait_ms = 2000;
    o.id_prefix = 0x5eed0000 + seed;  // deterministic job ids
    state_ = std::make_unique<BrokerState>(o, *this, clock_);
    for (int i = 0; i < 3; ++i) workers_.push_back(SimWorker{.id = "w" + std::to_string(i)});
    for (int i = 0; i < 4; ++i) clients_.push_back(SimClient{.id = "c" + std::to_string(i)});
    for (SimWorker& w : workers_) connect(w);
    for (SimClient& c : clients_) c.fd = next_fd_++;
  }

  // --- BrokerPorts ---
  SendResult send_client(const RoutingIds& peer, const sc::Frames& frames) override {
    SimClient* c = client_of(peer);
    if (c == nullptr || c->gone) return SendResult::kUnroutable;
    if (c->stalled) return SendResult::kWouldBlock;
    auto m = sc::parse_frames(frames);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    if (m.ok()) on_client_receives(*c, *m);
    return SendResult::kSent;
  }
  SendResult send_worker(const RoutingIds& route, const sc::Frames& frames) override {
    for (SimWorker& w : workers_) {
      if (w.connected && w.route == route) {
        auto m = sc::parse_frames(frames);
        EXPECT_TRUE(m.ok()) << m.status().to_string();
        if (m.ok()) on_worker_receives(w, *m);
        return SendResult::kSent;
      }
    }
    return SendResult::kUnroutable;
  }
  Submitted submit(StoreBatch batch) override {
    const size_t n = batch.writes.size() + batch.reads.size();
    batches_.push_back(Pending{.seq = next_seq_, .uid = ++next_uid_, .batch = std::move(batch)});
    return Submitted{.seq = next_seq_++, .n_commands = n, .releasable = true};
  }
  void read(ReaderTask task) override { reads_.push_back(std::move(task)); }

  // --- The run ---
  void step(bool faults) {
    clock_.advance_ms(std::uniform_int_distribution<int>(1, 30)(rng_));
    if (faults) inject_faults();
    run_store();
    answer_reads();
    state_->begin_turn();
    if (!state_->messages_wait()) {
      for (SimWorker& w : workers_) run_worker(w, faults);
      for (SimClient& c : clients_) run_client(c, faults);
    }
    state_->end_turn(true, true);
  }

  bool settled() const {
    if (!batches_.empty() || store_down_) return false;
    for (const auto& [id, job] : store_.jobs) {
      if (!sc::is_terminal(job.record.state)) return false;
    }
    for (const SimClient& c : clients_) {
      if (c.gone) continue;
      if (c.answers.size() + c.lost.size() < c.submitted.size()) return false;
      for (const auto& [id, j] : c.jobs) {
        if (!j.done) return false;
      }
    }
    return state_->jobs().n_entries() == 0;
  }

  void check() const;

  rs::ManualClock clock_;
  std::mt19937_64 rng_;
  std::unique_ptr<BrokerState> state_;
  SimStore store_;

 private:
  struct Pending {
    uint64_t seq = 0;
    uint64_t uid = 0;  // the batch across restarts (a journal renumbers it)
    StoreBatch batch;
    bool applied = false;  // applied while the store was "down" (its reply lost)
  };

  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  SimClient* client_of(const RoutingIds& peer) {
    for (SimClient& c : clients_) {
      if (!peer.empty() && peer.front() == c.id) return &c;
    }
    return nullptr;
  }

  void connect(SimWorker& w) {
    w.connected = true;
    w.fd = next_fd_++;
    w.route = RoutingIds{w.id + "-" + std::to_string(w.fd)};
    w.running.clear();
    w.next_beat_ns = clock_.now_ns() + 300'000'000;
    sc::WorkerReady ready{.worker_id = w.id};
    ready.devices.push_back(
        sc::DeviceInfo{.index = 0, .models = {"m"}, .free_slots = 3, .max_slots = 3});
    w.outbox.push_back(sc::make_frames(ready));
  }

  void inject_faults() {
    if (restarts_ && chance(0.0007)) restart();
    if (chance(store_down_ ? 0.08 : 0.01)) store_down_ = !store_down_;
    if (chance(0.01)) {  // a worker's connection drops: its jobs go elsewhere
      SimWorker& w = workers_[pick(static_cast<int>(workers_.size()))];
      if (w.connected) {
        w.connected = false;
        w.outbox.clear();
        w.running.clear();
        w.down_steps = 5 + pick(40);
        state_->on_worker_fd_closed(w.fd);
      }
    }
    for (SimClient& c : clients_) {
      if (c.gone) continue;
      if (chance(c.stalled ? 0.1 : 0.02)) c.stalled = !c.stalled;
      if (chance(0.0015)) {  // its connection drops: non-detached streams are cancelled
        c.gone = true;
        state_->on_client_fd_closed(c.fd);
      }
    }
  }

  // The store applies the batches in order while it is up; down, it reports the front
  // batch failing once per outage, and may apply it anyway with its reply lost.
  void run_store() {
    if (store_down_) {
      if (batches_.empty()) return;
      if (!failing_reported_) {
        trace(clock_.now_ns(), "store failing at batch " + std::to_string(batches_.front().seq));
        failing_reported_ = true;
        state_->on_store_failing(batches_.front().seq, rs::io_error("store down (sim)"),
                                 UINT64_MAX);
      }
      Pending& front = batches_.front();
      if (!front.applied && chance(0.3)) {
        (void)store_.apply(front.uid, front.batch);
        front.applied = true;
      }
      return;
    }
    failing_reported_ = false;
    int n = 1 + pick(4);
    while (n-- > 0 && !batches_.empty()) {
      Pending p = std::move(batches_.front());
      batches_.pop_front();
      trace_batch(clock_.now_ns(), p.seq, p.batch);
      BatchReplies replies = store_.apply(p.uid, p.batch);
      state_->on_batch_applied(p.seq, p.applied ? 2 : 1, replies);
    }
  }

  void answer_reads() {
    std::vector<ReaderTask> tasks = std::move(reads_);
    reads_.clear();
    for (ReaderTask& t : tasks) {
      if (auto* r = std::get_if<ReadRegistry>(&t)) {
        RegistryRead out;
        if (store_down_) out.status = rs::io_error("store down (sim)");
        else out.changed = !r->known_epoch.has_value();
        state_->on_registry_read(std::move(out));
      } else if (std::holds_alternative<LoadLive>(t)) {
        state_->on_live_read(live_read());
      } else {
        ADD_FAILURE() << "ingest read with ingest off";
      }
    }
  }

  void run_worker(SimWorker& w, bool faults) {
    if (!w.connected) {
      if (--w.down_steps <= 0) connect(w);
      return;
    }
    if (clock_.now_ns() >= w.next_beat_ns) {
      w.next_beat_ns = clock_.now_ns() + 300'000'000;
      w.outbox.push_back(sc::make_frames(sc::WorkerHeartbeat{.worker_id = w.id}));
    }
    sc::WorkerTokens step;
    for (size_t i = 0; i < w.running.size();) {
      SimRun& r = w.running[i];
      if (faults && chance(0.004)) {  // a retryable failure: requeued, resumed from the log
        w.outbox.push_back(sc::make_frames(sc::WorkerFailed{
            .job_id = r.job, .attempt = r.attempt, .device = 0,
            .code = sc::ErrorCode::kUnavailable, .message = "sim"}));
        w.running.erase(w.running.begin() + static_cast<long>(i));
        continue;
      }
      for (int k = pick(3); k > 0 && r.next_seq < r.max_tokens; --k, ++r.next_seq) {
        step.entries.push_back(sc::TokenEntry{.job_id = r.job, .attempt = r.attempt,
                                              .seq = r.next_seq, .token = token_at(r.job, r.next_seq),
                                              .text = "t"});
      }
      if (r.next_seq < r.max_tokens) {
        ++i;
        continue;
      }
      if (!step.entries.empty()) {  // the job's last tokens go before its DONE
        w.outbox.push_back(sc::make_frames(step));
        step.entries.clear();
      }
      w.outbox.push_back(sc::make_frames(sc::WorkerDone{.job_id = r.job, .attempt = r.attempt,
                                                        .device = 0, .finish_reason = "length"}));
      w.running.erase(w.running.begin() + static_cast<long>(i));
    }
    if (!step.entries.empty()) w.outbox.push_back(sc::make_frames(step));
    for (const sc::Frames& f : w.outbox) trace_frames(clock_.now_ns(), w.id + " ->", f);
    while (!w.outbox.empty() && w.connected) {
      sc::Frames f = std::move(w.outbox.front());
      w.outbox.pop_front();
      state_->on_worker_message(w.route, w.fd, f);
    }
  }

  void on_worker_receives(SimWorker& w, const sc::Message& m) {
    if (const auto* d = std::get_if<sc::Dispatch>(&m)) {
      EXPECT_LT(w.running.size(), 3u + 4u) << "device over its slots + reserve";
      // Resume: the new attempt continues after the tokens already delivered.
      for (size_t s = 0; s < d->resume_tokens.size(); ++s) {
        EXPECT_EQ(d->resume_tokens[s], token_at(d->job_id, s)) << d->job_id;
      }
      w.running.push_back(SimRun{.job = d->job_id, .attempt = d->attempt,
                                 .first_seq = d->resume_tokens.size(),
                                 .next_seq = d->resume_tokens.size(),
                                 .max_tokens = d->request.max_tokens});
    } else if (const auto* c = std::get_if<sc::CancelJob>(&m)) {
      for (size_t i = 0; i < w.running.size(); ++i) {
        if (w.running[i].job != c->job_id || w.running[i].attempt != c->attempt) continue;
        w.outbox.push_back(sc::make_frames(sc::WorkerDone{
            .job_id = c->job_id, .attempt = c->attempt, .device = 0, .finish_reason = "cancelled"}));
        w.running.erase(w.running.begin() + static_cast<long>(i));
        break;
      }
    } else if (std::holds_alternative<sc::BrokerDisconnect>(m)) {
      w.running.clear();  // the broker forgot us: register again
      sc::WorkerReady ready{.worker_id = w.id};
      ready.devices.push_back(
          sc::DeviceInfo{.index = 0, .models = {"m"}, .free_slots = 3, .max_slots = 3});
      w.outbox.push_back(sc::make_frames(ready));
    }
  }

  void run_client(SimClient& c, bool faults) {
    if (c.gone) return;
    if (faults && chance(0.15)) submit(c);
    if (!c.stalled) {
      for (auto& [id, j] : c.jobs) {
        if (!j.lagged || j.done) continue;
        j.lagged = false;
        c.outbox.push_back(sc::make_frames(sc::SubscribeRequest{
            .request_id = c.next_request++, .job_id = id, .from_seq = j.next_seq}));
      }
    }
    if (faults && !c.accepted.empty() && chance(0.01)) {  // cancel one of its jobs
      auto it = c.accepted.begin();
      std::advance(it, pick(static_cast<int>(c.accepted.size())));
      c.outbox.push_back(sc::make_frames(sc::CancelRequest{.request_id = c.next_request++,
                                                           .job_id = *it}));
    }
    if (faults && !c.accepted.empty() && chance(0.01)) {  // follow another job too
      auto it = c.accepted.begin();
      std::advance(it, pick(static_cast<int>(c.accepted.size())));
      SimJob& j = c.jobs[*it];
      if (!j.done) {
        j.subscribed = true;
        j.streamed = true;
        c.outbox.push_back(sc::make_frames(sc::SubscribeRequest{
            .request_id = c.next_request++, .job_id = *it, .from_seq = j.next_seq}));
      }
    }
    while (!c.outbox.empty()) {
      sc::Frames f = std::move(c.outbox.front());
      c.outbox.pop_front();
      trace_frames(clock_.now_ns(), c.id + " ->", f);
      state_->on_client_message(RoutingIds{c.id}, c.fd, f);
    }
  }

  void submit(SimClient& c) {
    const uint64_t rid = c.next_request++;
    sc::SubmitRequest r{.request_id = rid, .model = "m", .prompt = c.id + "/" + std::to_string(rid)};
    r.max_tokens = 1 + static_cast<uint32_t>(pick(12));
    r.stream = !chance(0.2);
    r.detach = chance(0.3);
    if (chance(0.1)) r.idempotency_key = c.id + "-k" + std::to_string(pick(5));
    c.submitted[rid] = r.prompt;
    c.stream_of[rid] = r.stream;
    c.outbox.push_back(sc::make_frames(r));
  }

  void on_client_receives(SimClient& c, const sc::Message& m);

  // The broker is killed between two turns and a new one starts: what it had submitted and
  // not yet applied is in its journal (re-applied first, as batches 1..n); what its
  // sockets held is lost (unanswered SUBMITs, held replies, subscriptions); workers
  // register again listing the jobs they run (adopted, their tokens sent again from the
  // attempt's first), clients SUBSCRIBE again to what they follow.
  void restart() {
    finished_before_ += state_->counters().finished.load();
    ++generation_;
    for (SimClient& c : clients_) {
      c.outbox.clear();
      for (const auto& [rid, prompt] : c.submitted) {
        if (!c.answers.count(rid)) c.lost.insert(rid);
      }
      for (auto& [id, j] : c.jobs) {
        if (j.done) continue;
        j.lagged = true;
        j.streamed = true;
        j.subscribed = true;
      }
    }
    for (SimWorker& w : workers_) {
      w.outbox.clear();
      if (!w.connected) continue;
      std::vector<SimRun> running = std::move(w.running);
      connect(w);
      sc::WorkerReady ready{.worker_id = w.id};
      ready.devices.push_back(
          sc::DeviceInfo{.index = 0, .models = {"m"}, .free_slots = 3, .max_slots = 3});
      for (SimRun& r : running) {
        ready.jobs.push_back(sc::ReadyJob{.job_id = r.job, .attempt = r.attempt, .device = 0,
                                          .n_tokens = r.next_seq});
        r.next_seq = r.first_seq;
      }
      w.running = std::move(running);
      w.outbox.clear();
      w.outbox.push_back(sc::make_frames(ready));
    }
    std::vector<size_t> journal;
    for (Pending& p : batches_) {
      p.seq = journal.size() + 1;
      journal.push_back(p.batch.writes.size() + p.batch.reads.size());
    }
    next_seq_ = journal.size() + 1;
    reads_.clear();
    failing_reported_ = false;
    options_.id_prefix = 0x5eed0000 + seed_ + (generation_ << 32);
    state_ = std::make_unique<BrokerState>(options_, *this, clock_);
    state_->on_journal(journal);
  }

  // Recovery: the live index's jobs that have not ended, and the start of each one's log.
  // Entries whose hash is gone or ended are removed (as JobStore::load_live does: a
  // journal's create that found its key taken leaves its new id in the index).
  LiveRead live_read() {
    LiveRead out;
    if (store_down_) {
      out.jobs = rs::io_error("store down (sim)");
      return out;
    }
    std::vector<StoredLiveJob> jobs;
    std::erase_if(store_.live, [&](const std::string& id) {
      auto it = store_.jobs.find(id);
      return it == store_.jobs.end() || sc::is_terminal(it->second.record.state);
    });
    for (const std::string& id : store_.live) {
      auto it = store_.jobs.find(id);
      jobs.push_back(StoredLiveJob{.record = it->second.record, .request = it->second.request});
      if (it->second.record.attempt == 0) continue;
      out.logged.push_back(id);
      LogPrefix log;
      auto l = store_.logs.find(id);
      for (uint64_t s = 0; l != store_.logs.end() && l->second.count(s) != 0; ++s) {
        log.tokens.push_back(l->second.at(s));
        log.text += "t";
      }
      out.logs.push_back(std::move(log));
    }
    out.jobs = std::move(jobs);
    return out;
  }

  std::vector<SimWorker> workers_;
  std::vector<SimClient> clients_;
  BrokerStateOptions options_;
  uint64_t seed_ = 0;
  bool restarts_ = false;
  uint64_t generation_ = 0;
  uint64_t finished_before_ = 0;  // jobs ended by brokers before the last restart
  std::deque<Pending> batches_;
  std::vector<ReaderTask> reads_;
  uint64_t next_seq_ = 1;
  uint64_t next_uid_ = 0;
  int next_fd_ = 10;
  bool store_down_ = false;
  bool failing_reported_ = false;


 public:
  const std::vector<SimClient>& clients() const { return clients_; }
  uint64_t restarts() const { return generation_; }
  uint64_t finished_before() const { return finished_before_; }
  void heal() {
    store_down_ = false;
    for (SimClient& c : clients_) c.stalled = false;
  }
};

inline void BrokerStateSim::on_client_receives(SimClient& c, const sc::Message& m) {
  trace_message(clock_.now_ns(), c.id + " <-", m);
  if (const auto* a = std::get_if<sc::Accepted>(&m)) {
    EXPECT_FALSE(c.answers.count(a->request_id)) << c.id << " answered twice: " << a->request_id;
    c.answers[a->request_id] = a->job_id;
    c.accepted.insert(a->job_id);
    auto [j, fresh] = c.jobs.try_emplace(a->job_id);
    if (fresh && !a->duplicate) j->second.streamed = c.stream_of[a->request_id];
  } else if (const auto* r = std::get_if<sc::Rejected>(&m)) {
    EXPECT_FALSE(c.answers.count(r->request_id)) << c.id << " answered twice: " << r->request_id;
    c.answers[r->request_id] = "";
  } else if (const auto* t = std::get_if<sc::TokenBatch>(&m)) {
    for (const sc::TokenEntry& e : t->entries) {
      SimJob& j = c.jobs[e.job_id];
      EXPECT_FALSE(j.done) << c.id << " " << e.job_id << ": a token after DONE";
      if (e.seq < j.next_seq) {  // a repeat: the same token
        EXPECT_EQ(j.tokens[e.seq], e.token) << e.job_id << " seq " << e.seq;
        continue;
      }
      EXPECT_EQ(e.seq, j.next_seq) << c.id << " " << e.job_id << ": a gap";
      if (e.seq != j.next_seq) continue;
      j.tokens.push_back(e.token);
      ++j.next_seq;
    }
  } else if (const auto* d = std::get_if<sc::Done>(&m)) {
    SimJob& j = c.jobs[d->record.job_id];
    if (j.done) {  // a second DONE only answers a SUBSCRIBE, and agrees
      EXPECT_EQ(j.state, d->record.state) << d->record.job_id;
      return;
    }
    j.done = true;
    j.state = d->record.state;
    j.completion_tokens = d->record.usage.completion_tokens;
  } else if (const auto* e = std::get_if<sc::ErrorReply>(&m)) {
    if (e->code == sc::ErrorCode::kLagged) {
      SimJob& j = c.jobs[e->job_id];
      EXPECT_TRUE(e->next_seq.has_value());
      if (j.streamed) {  // a DONE-only submitter is told the seq after the job's last token
        EXPECT_LE(e->next_seq.value_or(0), j.next_seq) << e->job_id << ": lagged past what arrived";
      }
      j.lagged = true;
    }
  }
}

}  // namespace rs::broker::sim
