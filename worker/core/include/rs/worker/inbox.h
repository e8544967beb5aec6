// Inbox: the commands for one device's engine thread (submit, cancel, add/retire model, stop).
// It owns the pending commands behind a mutex and a condition variable. Any thread may
// post(); only the engine thread calls take(), which may sleep until a command arrives.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rs/engine/engine.h"

namespace rs::worker {

struct SubmitCommand {
  std::string job_id;
  int attempt = 0;
  engine::GenerationRequest request;
  std::optional<std::string> key;  // nullopt: the engine added last that takes new jobs
  int64_t posted_ns = 0;           // steady clock, when the job reached the device
};

struct CancelCommand {
  std::string job_id;
};

// New jobs for `key` go to `engine` (built by the caller); jobs in flight on an older
// engine of the same key finish there, and that engine is dropped once it drains.
struct AddModelCommand {
  std::string key;
  std::unique_ptr<engine::Engine> engine;
};

// The engines of `key` take no new jobs; each is dropped once its jobs drained.
struct RetireModelCommand {
  std::string key;
};

enum class StopMode {
  kCancel,  // cancel every job (each ends CANCELLED), then exit
  kDrain,   // refuse new jobs, finish the ones in flight, then exit
};

struct StopCommand {
  StopMode mode = StopMode::kCancel;
};

using Command =
    std::variant<SubmitCommand, CancelCommand, AddModelCommand, RetireModelCommand, StopCommand>;

class Inbox {
 public:
  void post(Command command);
  // Takes every pending command. When none is pending, sleeps until one is posted or
  // `timeout` passes (zero: never sleeps).
  std::vector<Command> take(std::chrono::nanoseconds timeout);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Command> pending_;
};

}  // namespace rs::worker
