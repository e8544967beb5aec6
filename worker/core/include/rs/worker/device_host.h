// DeviceHost: one device. It owns the device's engine thread and, through it, its Engines
// (one per model key taking new jobs, plus older ones draining; only that thread touches
// them), the inbox into it and (unless shared) the outbox out of it. Any thread may call
// submit/cancel/add_model/retire_model/swap_model/take_batches and the read-only probes
// (last_beat_ns, load, slots); start, stop and the destructor belong to the thread that
// owns the DeviceHost (the worker's I/O thread or main).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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
#include "rs/worker/worker_metrics.h"

namespace rs::worker {

struct DeviceHostConfig {
  int device = 0;                       // index carried by every StepBatch
  engine::EngineConfig engine;          // max_batch_size, max_batch_tokens, kv_blocks, ...
  int beat_interval_ms = 100;           // an idle engine thread still wakes this often to beat
  std::shared_ptr<Outbox> outbox;       // nullptr: the host makes its own
  std::function<void()> wake;           // engine thread, after each push (e.g. inproc send)
  std::function<void()> before_step;    // test hook: engine thread, right before step()
  std::string model_key;                // key of the model given to start(model, config)
  // Fault injection, for tests and chaos drills only: a job whose prompt contains one of
  // these strings is admitted to its engine, then ends in the next step with
  // FinishReason::kError "injected fault: prompt contains '<string>'", the way an engine
  // failure of that one sequence ends it. The engine and the other jobs carry on.
  std::vector<std::string> fail_on_prompt;
  // Where the engine thread reports steps, tokens and ends (nullptr: nowhere). It must
  // outlive the DeviceHost.
  DeviceMetrics* metrics = nullptr;
};

// Load figures for READY/HEARTBEAT, published by the engine thread after each turn.
struct DeviceLoad {
  int n_jobs = 0;           // jobs accepted and not yet finished (all engines)
  int n_running = 0;
  int n_waiting = 0;
  int free_slots = 0;       // max_batch_size - n_jobs, at least 0
  int kv_free_blocks = 0;   // of the engine taking new jobs
  int kv_total_blocks = 0;
  int n_engines = 1;        // engines held: one per key taking jobs, plus draining ones
};

// One engine of a device as the engine thread last published it.
struct SlotInfo {
  std::string key;
  bool accepting = false;  // takes new jobs (false: retired or replaced, draining)
  int n_jobs = 0;
  bool operator==(const SlotInfo&) const = default;
};

class EngineSlot;

class DeviceHost {
 public:
  // Builds the Engine for config.model_key (errors come back here) and starts the engine
  // thread.
  static Result<std::unique_ptr<DeviceHost>> start(std::shared_ptr<const engine::Model> model,
                                                   DeviceHostConfig config);
  // Starts the engine thread with no engine (add_model adds them; jobs until then end with
  // a model_unavailable error).
  static Result<std::unique_ptr<DeviceHost>> start(DeviceHostConfig config);
  ~DeviceHost();  // stop(StopMode::kCancel) when still running
  DeviceHost(const DeviceHost&) = delete;
  DeviceHost& operator=(const DeviceHost&) = delete;

  // Queues a job. A job that fails validation ends at once with a kError finished entry.
  // A job id already in flight with a lower attempt is cancelled (that attempt ends
  // CANCELLED) and replaced; with the same or a higher attempt the new submit is dropped
  // and reported in StepBatch::errors (the job in flight still ends exactly once).
  // `key` chooses the engine: a key with no engine taking new jobs ends the job at once
  // with an error starting "model_unavailable". Without a key: the engine added last that
  // takes new jobs.
  void submit(std::string job_id, int attempt, engine::GenerationRequest request);
  void submit(std::string job_id, int attempt, engine::GenerationRequest request, std::string key);
  // Cancels a job: it ends CANCELLED in a coming batch and frees its KV blocks at once.
  // Unknown (or already finished) job ids are ignored and counted in n_unknown_cancels().
  void cancel(std::string job_id);
  // Builds an engine for `model` on the calling thread and posts it: new jobs for `key` then
  // go to it. An engine already serving `key` stops taking jobs and drains (a swap).
  Status add_model(std::string key, std::shared_ptr<const engine::Model> model);
  // The engines of `key` stop taking new jobs; each is dropped (releasing its share of the
  // Model) once its jobs finished. Unknown keys are ignored.
  void retire_model(std::string key);
  // add_model under the key of the engine added last (config.model_key at first).
  Status swap_model(std::shared_ptr<const engine::Model> model);
  // Stops the engine thread (see StopMode) and joins it; the thread drops every engine as
  // it exits (the probes then read zero). Idempotent; commands posted afterwards are ignored.
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
  // Every engine held (taking jobs or draining), as of the engine thread's last turn.
  std::vector<SlotInfo> slots() const;
  // An engine for `key` is still held (taking jobs or draining), as of the last turn.
  bool holds(const std::string& key) const;
  // Commands posted to the inbox so far, and how many of them the engine thread has applied
  // (and published the slots of): once n_applied() >= a value of n_posted() read after a
  // post, slots() and holds() reflect that command.
  uint64_t n_posted() const { return n_posted_.load(std::memory_order_acquire); }
  uint64_t n_applied() const { return n_applied_.load(std::memory_order_acquire); }
  bool running() const { return !stopped_.load(std::memory_order_acquire); }

 private:
  explicit DeviceHost(DeviceHostConfig config);
  void launch();
  void run();
  void post(Command command);
  void beat();
  std::chrono::nanoseconds wait_for_turn() const;
  void apply(Command& command);
  void apply_submit(SubmitCommand& command);
  void apply_cancel(const CancelCommand& command);
  void apply_stop(const StopCommand& command);
  void apply_add(AddModelCommand& command);
  void apply_retire(const RetireModelCommand& command);
  EngineSlot* slot_for(const std::optional<std::string>& key) const;
  void step_engines();
  void drop_drained();
  void forget_finished(const StepBatch& batch, size_t first_finished);
  void observe_step(const EngineSlot& slot, const StepBatch& batch, size_t first_token,
                    size_t first_finished, int64_t started_ns);
  void flush();
  void publish_load();
  bool has_work() const;
  void reject(const std::string& job_id, int attempt, const Status& error);
  std::string injected_fault(const std::string& prompt) const;
  void inject_faults(StepBatch& batch, size_t first_finished);

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
    std::string fault;  // fail_on_prompt: the error its (cancelled) sequence ends with
    int64_t posted_ns = 0;      // when the job reached the device (steady clock)
    int64_t last_token_ns = 0;  // its latest token (0: none yet)
  };
  std::vector<std::unique_ptr<EngineSlot>> slots_;  // in the order added
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
  // Free (high 32 bits) and total (low 32) KV blocks in one word: a reader never pairs the
  // free count of one moment with the total of another (free > total during a model swap).
  std::atomic<uint64_t> kv_blocks_{0};
  std::atomic<int> n_engines_{0};
  std::atomic<uint64_t> n_posted_{0};
  std::atomic<uint64_t> n_applied_{0};
  uint64_t n_taken_ = 0;  // engine thread: commands taken from the inbox
  mutable std::mutex slots_mu_;
  std::vector<SlotInfo> slot_infos_;  // under slots_mu_
  std::mutex key_mu_;
  std::string last_key_;  // under key_mu_: the key swap_model replaces
};

}  // namespace rs::worker
