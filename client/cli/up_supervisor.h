// Supervisor: keeps the children of `ringserve up` running once the pool is up. A child
// that dies is reported on stderr and started again with the same options (its log
// appended) after a backoff: 100 ms, doubling up to 5 s, back to 100 ms once a run lasted
// a stable minute. The pool's thread calls tick() every turn; tick() never blocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

namespace rs::cli {

struct BackoffPolicy {
  int first_ms = 100;
  int max_ms = 5000;
  int stable_ms = 60000;  // a run this long resets the delay to first_ms
};

// The restart delays of one child (pure arithmetic).
class RestartBackoff {
 public:
  explicit RestartBackoff(BackoffPolicy policy) : policy_(policy), next_ms_(policy.first_ms) {}
  // The delay before restarting a child whose last run lasted ran_ms.
  int next_delay_ms(int64_t ran_ms);

 private:
  BackoffPolicy policy_;
  int next_ms_;
};

class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;
  // on_spawn: called with every child it starts again (the pool records its pid).
  Supervisor(BackoffPolicy policy, std::function<void(const ChildProcess&)> on_spawn);

  // Watches the child the pool keeps in `slot` (it must outlive the supervisor's use);
  // restarts it with `options` (log appended).
  void watch(std::unique_ptr<ChildProcess>* slot, ProcessOptions options);
  // One turn: reports the children that died and restarts those whose delay is over.
  void tick(Clock::time_point now);
  // How many times the child named `name` was started again.
  int restarts(const std::string& name) const;

 private:
  struct Watched {
    std::unique_ptr<ChildProcess>* slot;
    ProcessOptions options;
    RestartBackoff backoff;
    Clock::time_point started;
    std::optional<Clock::time_point> restart_at;  // set while dead
    int restarts = 0;
  };
  void on_death(Watched& w, Clock::time_point now);
  void restart(Watched& w, Clock::time_point now);

  BackoffPolicy policy_;
  std::function<void(const ChildProcess&)> on_spawn_;
  std::vector<Watched> watched_;
};

}  // namespace rs::cli
