// A randomized run of the Dispatcher against a simulated pool: jobs arrive, finish, get
// cancelled; workers die, restart and fall silent. Checks the invariants the broker loop
// relies on: every accepted job ends exactly once, no device takes more than its slots,
// stale attempts are fenced, attempts only grow.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"

namespace {

// "w" + std::to_string(i) without GCC 12's false -Wrestrict warning.
std::string named(const char* prefix, uint64_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

struct Running {
  DeviceKey device;
  uint32_t attempt;
};

class Sim {
 public:
  // versioned: workers advertise "v@1".."v@3" and change their lists by heartbeat; jobs
  // are for "v" (some pinned, some with sessions); the registry's active version moves.
  explicit Sim(uint64_t seed, bool versioned = false)
      : rng_(seed), d_(clock_, options()), versioned_(versioned) {}

  static DispatcherOptions options() {
    DispatcherOptions o;
    o.queue.max_queued = 64;
    o.queue.wait_timeout_ms = 2000;
    o.max_attempts = 3;
    return o;
  }

  void apply(const Actions& actions) {
    for (const Action& a : actions) apply_one(a);
  }

  void apply_one(const Action& a) {
    switch (a.kind) {
      case ActionKind::kDispatch: {
        ASSERT_TRUE(live_.count(a.job)) << a.job;
        ASSERT_FALSE(d_.dispatch_paused()) << "dispatched while paused: " << a.job;
        ASSERT_GT(a.attempt, last_attempt_[a.job]);
        last_attempt_[a.job] = a.attempt;
        running_[a.job] = {a.device, a.attempt};
        const DeviceState* s = d_.workers().device(a.device);
        ASSERT_NE(s, nullptr);
        ASSERT_LE(s->jobs.size(), s->slots);
        // The key it runs on is one the device lists now, and a pinned job's own.
        ASSERT_NE(std::find(s->models.begin(), s->models.end(), a.model_key), s->models.end())
            << a.model_key;
        if (pinned_.count(a.job)) {
          ASSERT_EQ(a.model_key, pinned_[a.job]);
        }
        break;
      }
      case ActionKind::kRequeued:
        stale_.push_back({a.job, running_[a.job]});
        running_.erase(a.job);
        break;
      case ActionKind::kFail:
      case ActionKind::kCancelled:
        end(a.job);
        break;
      default:
        break;
    }
  }

  void end(const JobId& job) {
    ASSERT_EQ(live_.erase(job), 1u) << "ended twice: " << job;
    ASSERT_TRUE(ended_.insert(job).second);
    running_.erase(job);
  }

  void submit() {
    JobId id = named("j", next_job_++);
    JobSubmit s{id, rng_() % 4 == 0 ? "m2" : "m", rng_() % 3 ? Priority::kInteractive
                                                               : Priority::kBatch,
                routing_key({"m", named("key", rng_() % 20), "", ""}), ""};
    if (versioned_) {
      uint64_t r = rng_() % 6;
      s.model = r == 0 ? named("v@", 1 + rng_() % 3) : "v";
      if (r == 0) pinned_[id] = s.model;
      if (r >= 4) s.session_id = named("s", rng_() % 30);
    }
    Actions a = d_.on_job_submitted(s);
    bool rejected = !a.empty() && a[0].kind == ActionKind::kReject;
    if (!rejected) live_.insert(id);
    apply(a);
  }

  void finish_one() {
    if (running_.empty()) return;
    auto it = std::next(running_.begin(), static_cast<long>(rng_() % running_.size()));
    JobId job = it->first;
    EndResult r = d_.on_job_ended(job, it->second.attempt, it->second.device);
    ASSERT_TRUE(r.current);
    end(job);
    apply(r.actions);
  }

  void stale_message() {
    if (stale_.empty()) return;
    auto& [job, run] = stale_[rng_() % stale_.size()];
    ASSERT_FALSE(d_.on_job_ended(job, run.attempt, run.device).current);
  }

  // A device's new model list, a registry change, or a model_unavailable from a worker.
  void model_event() {
    uint64_t r = rng_() % 3;
    if (r == 0) {
      std::string w = named("w", rng_() % 3);
      if (!d_.workers().contains(w)) return;
      apply(d_.on_device_models({w, static_cast<uint32_t>(rng_() % 2)}, random_versions()));
    } else if (r == 1) {
      uint32_t active = 1 + static_cast<uint32_t>(rng_() % 3);
      uint32_t canary = rng_() % 2 ? 1 + static_cast<uint32_t>(rng_() % 3) : 0;
      apply(d_.on_registry({RegistryModel{.name = "v", .active = active,
                                          .canary = canary == active ? 0 : canary,
                                          .canary_percent = 30, .versions = {1, 2, 3}}}));
    } else if (!running_.empty()) {
      auto it = std::next(running_.begin(), static_cast<long>(rng_() % running_.size()));
      JobId job = it->first;
      Running run = it->second;
      EndResult e = d_.on_job_retry(job, run.attempt, run.device, /*model_gone=*/true);
      ASSERT_TRUE(e.current);
      stale_.push_back({job, run});
      running_.erase(job);
      apply(e.actions);
    }
  }

  std::vector<ModelName> random_versions() {
    std::vector<ModelName> out;
    for (int v = 1; v <= 3; ++v) {
      if (rng_() % 2) out.push_back(named("v@", v));
    }
    return out;
  }

  void worker_event() {
    std::string w = named("w", rng_() % 3);
    switch (rng_() % 3) {
      case 0: apply(d_.on_worker_ready(make_ready(w))); break;
      case 1: apply(d_.on_worker_disconnect(w)); break;
      default: silent_.insert(w); break;  // stops heartbeating
    }
  }

  WorkerReady make_ready(const std::string& w) {
    silent_.erase(w);
    WorkerReady r{w, {}};
    for (uint32_t i = 0; i < 2; ++i) {
      std::vector<ModelName> models{"m"};
      if (w != "w2") models.push_back("m2");
      if (versioned_) models = draining_ ? std::vector<ModelName>{"v@1", "v@2", "v@3"} : random_versions();
      r.devices.push_back({i, 1 + static_cast<uint32_t>(rng_() % 4), models});
    }
    return r;
  }

  void advance(double ms) {
    clock_.advance_ms(ms);
    for (const auto& [id, entry] : d_.workers().workers()) {
      if (!silent_.count(id)) d_.on_worker_message(id);
    }
    apply(d_.tick());
  }

  void step() {
    if (pausing_ && rng_() % 40 == 0) apply(d_.set_dispatch_paused(!d_.dispatch_paused()));
    uint64_t r = rng_() % 100;
    if (r < 40) submit();
    else if (r < 75) finish_one();
    else if (r < 80) stale_message();
    else if (r < 83) worker_event();
    else if (r < 86 && !live_.empty()) apply(d_.on_cancel(*live_.begin()));
    else if (versioned_ && r < 92) model_event();
    else advance(static_cast<double>(rng_() % 400));
  }

  void drain_all() {
    draining_ = true;
    apply(d_.set_dispatch_paused(false));
    for (int w = 0; w < 3; ++w) apply(d_.on_worker_ready(make_ready(named("w", w))));
    for (int i = 0; i < 100000 && !live_.empty(); ++i) {
      if (running_.empty()) advance(500);
      else finish_one();
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  rs::ManualClock clock_;
  std::mt19937_64 rng_;
  Dispatcher d_;
  bool versioned_ = false;
  bool draining_ = false;
  bool pausing_ = false;  // dispatch is paused and resumed at random (set_dispatch_paused)
  std::map<JobId, ModelName> pinned_;
  int next_job_ = 0;
  std::set<JobId> live_, ended_;
  std::set<std::string> silent_;
  std::map<JobId, Running> running_;
  std::map<JobId, uint32_t> last_attempt_;
  std::vector<std::pair<JobId, Running>> stale_;
};

TEST(DispatcherSim, EveryJobEndsExactlyOnce) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Sim sim(seed);
    for (int i = 0; i < 4000; ++i) {
      sim.step();
      ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed << " step " << i;
    }
    sim.drain_all();
    ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed;
    EXPECT_TRUE(sim.live_.empty()) << "seed " << seed << ": " << sim.live_.size() << " left";
    EXPECT_EQ(sim.d_.live_jobs(), 0u);
    EXPECT_TRUE(sim.d_.queue().empty());
    EXPECT_GT(sim.ended_.size(), 500u);
    EXPECT_FALSE(sim.stale_.empty()) << "no worker was lost: the run proves little";
  }
}

// Versioned: keys come and go by heartbeat, the active version moves, workers answer
// model_unavailable; still every job ends exactly once, each on a key its device lists.
TEST(DispatcherSim, VersionedEveryJobEndsExactlyOnce) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Sim sim(seed, /*versioned=*/true);
    for (int i = 0; i < 4000; ++i) {
      sim.step();
      ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed << " step " << i;
    }
    sim.drain_all();
    ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed;
    EXPECT_TRUE(sim.live_.empty()) << "seed " << seed << ": " << sim.live_.size() << " left";
    EXPECT_EQ(sim.d_.live_jobs(), 0u);
    EXPECT_TRUE(sim.d_.queue().empty());
    EXPECT_GT(sim.ended_.size(), 500u);
  }
}

// Dispatch paused and resumed at random (the broker's --max-held-writes): nothing is
// dispatched while paused, and still every job ends exactly once.
TEST(DispatcherSim, PausedDispatchEveryJobEndsExactlyOnce) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Sim sim(seed);
    sim.pausing_ = true;
    for (int i = 0; i < 4000; ++i) {
      sim.step();
      ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed << " step " << i;
    }
    sim.drain_all();
    ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed;
    EXPECT_TRUE(sim.live_.empty()) << "seed " << seed << ": " << sim.live_.size() << " left";
    EXPECT_EQ(sim.d_.live_jobs(), 0u);
    EXPECT_TRUE(sim.d_.queue().empty());
    EXPECT_GT(sim.ended_.size(), 500u);
  }
}

}  // namespace
