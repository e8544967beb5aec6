// DeviceHost: one device. It owns the device's engine thread and, through it, the Engine
// (only that thread touches the engine), plus the inbox into it and (unless shared) the
// outbox out of it. Any thread may call submit/cancel/swap_model/take_batches and the
// read-only probes (last_beat_ns, load); start, stop and the destructor belong to the
// thread that owns the DeviceHost (the worker's I/O thread or main).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/engine/engine.h"
#include "rs/worker/inbox.h"
#include "rs/worker/outbox.h"
#include "rs/worker/step_batch.h"

namespace rs::worker {

struct DeviceHostConfig {
  int device = 0;                       // index carried by every StepBatch
  engine::EngineConfig engine;          // max_batch_size, max_batch_tokens, kv_blocks, ...
  int beat_interval_ms = 100;           // an idle engine thread still wakes this often to beat
  std::shared_ptr<Outbox> outbox;       // nullptr: the host makes its own
  std::function<void()> wake;           // engine thread, after each push (e.g. inproc send)
  std::function<void()> before_step;    // test hook: engine thread, right before step()
};

// Load figures for READY/HEARTBEAT, published by the engine thread after each turn.
struct DeviceLoad {
  int n_jobs = 0;           // jobs accepted and not yet finished (all engines)
  int n_running = 0;
  int n_waiting = 0;
  int free_slots = 0;       // max_batch_size - n_jobs, at least 0
  int kv_free_blocks = 0;   // of the engine taking new jobs
  int kv_total_blocks = 0;
  int n_engines = 1;        // 2+ while an old model drains after swap_model
};

class EngineSlot;

class DeviceHost {
 public:
  // Builds the Engine (errors come back here) and starts the engine thread.
  static Result<std::unique_ptr<DeviceHost>> start(std::shared_ptr<const engine::Model> model,
                                                   DeviceHostConfig config);
  ~DeviceHost();  // stop(StopMode::kCancel) when still running
  DeviceHost(const DeviceHost&) = delete;
  DeviceHost& operator=(const DeviceHost&) = delete;

  // Queues a job. A job that fails validation ends at once with a kError finished entry.
  // A job id already in flight with a lower attempt is cancelled (that attempt ends
  // CANCELLED) and replaced; with the same or a higher attempt the new submit is dropped
  // and reported in StepBatch::errors (the job in flight still ends exactly once).
  void submit(std::string job_id, int attempt, engine::GenerationRequest request);
  // Cancels a job: it ends CANCELLED in a coming batch and frees its KV blocks at once.
  // Unknown (or already finished) job ids are ignored and counted in n_unknown_cancels().
  void cancel(std::string job_id);
  // Builds an engine for `model` on the calling thread; new jobs then go to it while the
  // jobs in flight finish on the old engine, which is dropped once it drains.
  Status swap_model(std::shared_ptr<const engine::Model> model);
  // Stops the engine thread (see StopMode) and joins it. Idempotent; commands posted
  // afterwards are ignored.
  void stop(StopMode mode = StopMode::kCancel);

  std::vector<StepBatch> take_batches() { return outbox_->take_all(); }
  Outbox& outbox() { return *outbox_; }

  // Liveness: stamped by the engine thread every loop turn, and before and after each
  // step(). A stuck engine thread stops advancing it; the I/O thread sends heartbeats
  // only while it is recent.
  int64_t last_beat_ns() const { return last_beat_ns_.load(std::memory_order_acquire); }
  uint64_t n_beats() const { return n_beats_.load(std::memory_order_relaxed); }
  uint64_t n_steps() const { return n_steps_.load(std::memory_order_relaxed); }
  uint64_t n_unknown_cancels() const { return n_unknown_cancels_.load(std::memory_order_relaxed); }
  DeviceLoad load() const;
  int device() const { return config_.device; }
  bool running() const { return !stopped_.load(std::memory_order_acquire); }

 private:
  DeviceHost(DeviceHostConfig config, std::unique_ptr<engine::Engine> engine);
  void run();
  void beat();
  std::chrono::nanoseconds wait_for_turn() const;
  void apply(Command& command);
  void apply_submit(SubmitCommand& command);
  void apply_cancel(const CancelCommand& command);
  void apply_stop(const StopCommand& command);
  void apply_swap(SwapModelCommand& command);
  void step_engines();
  void forget_finished(const StepBatch& batch, size_t first_finished);
  void flush();
  void publish_load();
  bool has_work() const;
  void reject(const std::string& job_id, int attempt, std::string error);

  DeviceHostConfig config_;
  std::shared_ptr<Outbox> outbox_;
  Inbox inbox_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};

  // Engine-thread state.
  struct JobRef {
    EngineSlot* slot = nullptr;
    engine::SeqId seq = 0;
    int attempt = 0;
  };
  std::vector<std::unique_ptr<EngineSlot>> slots_;  // back(): takes new jobs
  std::unordered_map<std::string, JobRef> jobs_;
  StepBatch pending_;
  uint64_t n_batches_ = 0;
  bool held_back_ = false;  // the engine holds queued work back (batch_timeout_ms)
  bool stopping_ = false;

  // Published for other threads.
  std::atomic<int64_t> last_beat_ns_{0};
  std::atomic<uint64_t> n_beats_{0};
  std::atomic<uint64_t> n_steps_{0};
  std::atomic<uint64_t> n_unknown_cancels_{0};
  std::atomic<int> n_jobs_{0};
  std::atomic<int> n_running_{0};
  std::atomic<int> n_waiting_{0};
  std::atomic<int> kv_free_blocks_{0};
  std::atomic<int> kv_total_blocks_{0};
  std::atomic<int> n_engines_{1};
};

}  // namespace rs::worker
