// Supervisor: restart with backoff of the children of `ringserve up`.
#include "up_supervisor.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace rs::cli {
namespace {

constexpr int kRestartTailLines = 10;

int64_t elapsed_ms(Supervisor::Clock::time_point from, Supervisor::Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

int RestartBackoff::next_delay_ms(int64_t ran_ms) {
  if (ran_ms >= policy_.stable_ms) next_ms_ = policy_.first_ms;
  const int delay = next_ms_;
  next_ms_ = std::min(policy_.max_ms, next_ms_ * 2);
  return delay;
}

Supervisor::Supervisor(BackoffPolicy policy, std::function<void(const ChildProcess&)> on_spawn)
    : policy_(policy), on_spawn_(std::move(on_spawn)) {}

void Supervisor::watch(std::unique_ptr<ChildProcess>* slot, ProcessOptions options) {
  options.append_log = true;
  watched_.push_back(
      Watched{slot, std::move(options), RestartBackoff(policy_), Clock::now(), std::nullopt, 0});
}

void Supervisor::tick(Clock::time_point now) {
  for (Watched& w : watched_) {
    if (w.restart_at) {
      if (now >= *w.restart_at) restart(w, now);
      continue;
    }
    ChildProcess* child = w.slot->get();
    if (child == nullptr || !child->alive()) on_death(w, now);
  }
}

void Supervisor::on_death(Watched& w, Clock::time_point now) {
  const int delay_ms = w.backoff.next_delay_ms(elapsed_ms(w.started, now));
  w.restart_at = now + std::chrono::milliseconds(delay_ms);
  ChildProcess* child = w.slot->get();
  if (child == nullptr) return;  // a restart that failed to spawn: reported already
  const std::string tail = tail_file(child->log_path(), kRestartTailLines);
  std::fprintf(stderr, "ringserve up: %s (pid %d) %s; restarting it in %d ms (log %s)%s%s",
               child->name().c_str(), static_cast<int>(child->pid()),
               child->exit_description().c_str(), delay_ms, child->log_path().c_str(),
               tail.empty() ? "\n" : "; last lines:\n", tail.c_str());
  std::fflush(stderr);
}

void Supervisor::restart(Watched& w, Clock::time_point now) {
  w.restart_at.reset();
  w.started = now;
  ++w.restarts;
  auto spawned = ChildProcess::spawn(w.options);
  if (!spawned.ok()) {
    std::fprintf(stderr, "ringserve up: cannot restart %s: %s\n", w.options.name.c_str(),
                 spawned.status().message().c_str());
    w.slot->reset();
    on_death(w, now);
    return;
  }
  *w.slot = std::move(spawned).value();
  std::fprintf(stderr, "ringserve up: %s restarted (pid %d, restart %d)\n", w.options.name.c_str(),
               static_cast<int>((*w.slot)->pid()), w.restarts);
  std::fflush(stderr);
  if (on_spawn_) on_spawn_(**w.slot);
}

int Supervisor::restarts(const std::string& name) const {
  for (const Watched& w : watched_) {
    if (w.options.name == name) return w.restarts;
  }
  return 0;
}

}  // namespace rs::cli
