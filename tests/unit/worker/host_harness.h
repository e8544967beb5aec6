// Test helpers around a DeviceHost, shared by the device tests: StepGate (a before_step hook
// that can hold the engine thread before its next step) and HostOutputs (the jobs' tokens
// and ends, absorbed the way the I/O thread takes them). The test thread only, except
// StepGate::hook, which the engine thread runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rs/worker/device_host.h"

namespace rs::test {

using worker::DeviceHost;
using worker::FinishedOut;
using worker::StepBatch;
using worker::TokenOut;

class StepGate {
 public:
  // For DeviceHostConfig::before_step: waits while held (and says it is waiting).
  std::function<void()> hook() {
    return [this] {
      std::unique_lock<std::mutex> lock(mu_);
      if (hold_) {
        blocked_ = true;
        cv_.notify_all();
      }
      cv_.wait(lock, [this] { return !hold_; });
    };
  }
  void hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }
  // True once the engine thread waits in the hook while held (bounded).
  bool wait_blocked(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return blocked_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool blocked_ = false;
};

struct HostJob {
  std::vector<int32_t> tokens;
  int n_finished = 0;
  FinishedOut finish;
};

class HostOutputs {
 public:
  void absorb(DeviceHost& host) {
    for (StepBatch& b : host.take_batches()) {
      for (const TokenOut& t : b.tokens) jobs[t.job_id].tokens.push_back(t.token);
      for (const FinishedOut& f : b.finished) {
        ++jobs[f.job_id].n_finished;
        jobs[f.job_id].finish = f;
      }
    }
  }
  // Polls (every 2 ms, at most timeout_ms) until done() holds; returns done().
  bool collect_until(DeviceHost& host, const std::function<bool()>& done, long timeout_ms = 10000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      absorb(host);
      if (done()) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  bool finished(const std::string& id) { return jobs[id].n_finished > 0; }
  int n_finished() const {
    int n = 0;
    for (const auto& [id, j] : jobs) n += j.n_finished;
    return n;
  }

  std::map<std::string, HostJob> jobs;
};

}  // namespace rs::test
