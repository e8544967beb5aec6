// JobQueue: the jobs waiting for a device, per model reference ("name" or "name@version")
// and priority (interactive before batch, FIFO within), bounded by max_queued, each with a
// wait deadline on the injected clock, plus a shorter model-wait deadline while its model is
// armed (nobody serves it). Owns the queued entries only. Broker loop thread only.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rs/broker/types.h"
#include "rs/core/clock.h"

namespace rs::broker {

struct QueuedJob {
  JobId id;
  ModelName model;
  Priority priority = Priority::kInteractive;
  uint64_t route_key = 0;
  uint32_t attempt = 1;
  int64_t enqueued_ns = 0;  // set by push / push_front; moved later by delay_deadlines
  int64_t deadline_ns = 0;  // set by push / push_front: enqueued + wait timeout
  int64_t model_wait_ns = 0;  // 0, or while its model is armed: max(enqueued, armed) + model wait
  int64_t expires_ns = 0;  // 0, or the job's own expiry (SUBMIT expires_ms): the deadline if sooner
  bool expired(int64_t now_ns) const { return expires_ns != 0 && expires_ns <= now_ns; }
};

struct JobQueueOptions {
  size_t max_queued = 10000;      // total over all models
  int64_t wait_timeout_ms = 30000;  // a job waiting longer for a device fails
  int64_t model_wait_ms = 10000;    // a job of an armed model (nobody serves it) waiting longer fails
};

enum class PushResult { kQueued, kQueueFull, kDuplicate };

class JobQueue {
 public:
  explicit JobQueue(const rs::Clock& clock, JobQueueOptions options = {});

  // Appends at the back of its model/priority queue. kQueueFull at once when the queue
  // holds max_queued jobs; kDuplicate if the id is already queued.
  PushResult push(QueuedJob job);
  // Puts a re-dispatched job at the front of its model/priority queue. Never refused
  // for size: the job was accepted before (it may take the total past max_queued).
  PushResult push_front(QueuedJob job);

  // The next job for the model (interactive first), without (peek) or with (pop) taking it.
  const QueuedJob* peek(const ModelName& model) const;
  std::optional<QueuedJob> pop(const ModelName& model);
  // Takes a job out wherever it is (cancel).
  std::optional<QueuedJob> remove(const JobId& id);
  bool contains(const JobId& id) const { return index_.count(id) != 0; }

  // Takes out and returns every job whose deadline is at or before the clock's now,
  // earliest deadline first.
  std::vector<QueuedJob> take_expired();
  // The earliest deadline (wait or model wait) of any queued job (for the poll timeout).
  std::optional<int64_t> next_deadline_ns() const;
  // Time that must not count against the queued jobs (a dispatch pause): each one's wait
  // and model-wait deadlines move delta_ns later; its own expiry (expires_ns) stays.
  void delay_deadlines(int64_t delta_ns);

  // Model wait. Arming a model gives each of its jobs (and every job pushed while it stays
  // armed) a model-wait deadline of max(enqueued, now) + model_wait_ms; disarming clears
  // them. Arming an armed model changes nothing.
  void arm_model_wait(const ModelName& model);
  void disarm_model_wait(const ModelName& model);
  bool model_wait_armed(const ModelName& model) const { return armed_.count(model) != 0; }
  const std::set<ModelName>& armed_models() const { return armed_; }
  // Takes out every job whose model-wait deadline has passed, earliest first.
  std::vector<QueuedJob> take_model_wait_expired();
  // Up to limit job ids of the model in dispatch order (interactive lane, then batch).
  std::vector<JobId> ids(const ModelName& model, size_t limit) const;

  size_t size() const { return index_.size(); }
  size_t size(const ModelName& model) const;
  bool empty() const { return index_.empty(); }
  // Models with at least one queued job, in name order.
  std::vector<ModelName> models() const;
  // Each non-empty (model, priority) lane: its depth and its oldest job's enqueue time.
  struct LaneStats {
    ModelName model;
    Priority priority = Priority::kInteractive;
    size_t depth = 0;
    int64_t oldest_enqueued_ns = 0;
  };
  std::vector<LaneStats> lane_stats() const;

 private:
  using Lane = std::list<QueuedJob>;
  struct ModelQueues {
    Lane lanes[kNumPriorities];
    size_t size() const { return lanes[0].size() + lanes[1].size(); }
  };
  struct Where {
    ModelName model;
    int lane;
    Lane::iterator it;
  };
  PushResult insert(QueuedJob job, bool at_front);
  QueuedJob erase(std::unordered_map<JobId, Where>::iterator where);

  const rs::Clock& clock_;
  JobQueueOptions options_;
  std::map<ModelName, ModelQueues> queues_;
  std::unordered_map<JobId, Where> index_;
  std::set<std::pair<int64_t, JobId>> deadlines_;
  std::set<std::pair<int64_t, JobId>> model_waits_;
  std::set<ModelName> armed_;
};

}  // namespace rs::broker
