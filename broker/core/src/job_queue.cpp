#include "rs/broker/job_queue.h"

#include <algorithm>

namespace rs::broker {

JobQueue::JobQueue(const rs::Clock& clock, JobQueueOptions options)
    : clock_(clock), options_(options) {}

PushResult JobQueue::push(QueuedJob job) {
  if (index_.count(job.id) != 0) return PushResult::kDuplicate;
  if (index_.size() >= options_.max_queued) return PushResult::kQueueFull;
  return insert(std::move(job), /*at_front=*/false);
}

PushResult JobQueue::push_front(QueuedJob job) {
  if (index_.count(job.id) != 0) return PushResult::kDuplicate;
  return insert(std::move(job), /*at_front=*/true);
}

PushResult JobQueue::insert(QueuedJob job, bool at_front) {
  int64_t now = clock_.now_ns();
  job.enqueued_ns = now;
  job.deadline_ns = now + options_.wait_timeout_ms * 1'000'000;
  if (job.expires_ns != 0) job.deadline_ns = std::min(job.deadline_ns, job.expires_ns);
  int lane = job.priority == Priority::kBatch ? 1 : 0;
  Lane& queue = queues_[job.model].lanes[lane];
  job.model_wait_ns = 0;
  if (armed_.count(job.model) != 0) {
    job.model_wait_ns = now + options_.model_wait_ms * 1'000'000;
    model_waits_.emplace(job.model_wait_ns, job.id);
  }
  auto it = at_front ? queue.insert(queue.begin(), job) : queue.insert(queue.end(), job);
  deadlines_.emplace(job.deadline_ns, job.id);
  index_.emplace(job.id, Where{job.model, lane, it});
  return PushResult::kQueued;
}

QueuedJob JobQueue::erase(std::unordered_map<JobId, Where>::iterator where) {
  auto model_it = queues_.find(where->second.model);
  Lane& lane = model_it->second.lanes[where->second.lane];
  QueuedJob job = std::move(*where->second.it);
  lane.erase(where->second.it);
  if (model_it->second.size() == 0) queues_.erase(model_it);
  deadlines_.erase({job.deadline_ns, job.id});
  if (job.model_wait_ns != 0) model_waits_.erase({job.model_wait_ns, job.id});
  index_.erase(where);
  return job;
}

const QueuedJob* JobQueue::peek(const ModelName& model) const {
  auto it = queues_.find(model);
  if (it == queues_.end()) return nullptr;
  for (const Lane& lane : it->second.lanes) {
    if (!lane.empty()) return &lane.front();
  }
  return nullptr;
}

std::optional<QueuedJob> JobQueue::pop(const ModelName& model) {
  const QueuedJob* head = peek(model);
  if (head == nullptr) return std::nullopt;
  return erase(index_.find(head->id));
}

std::optional<QueuedJob> JobQueue::remove(const JobId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return erase(it);
}

std::vector<QueuedJob> JobQueue::take_expired() {
  std::vector<QueuedJob> expired;
  int64_t now = clock_.now_ns();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    JobId id = deadlines_.begin()->second;
    expired.push_back(erase(index_.find(id)));
  }
  return expired;
}

std::optional<int64_t> JobQueue::next_deadline_ns() const {
  std::optional<int64_t> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (!model_waits_.empty() && (!next || model_waits_.begin()->first < *next)) {
    next = model_waits_.begin()->first;
  }
  return next;
}

void JobQueue::delay_deadlines(int64_t delta_ns) {
  if (delta_ns <= 0 || index_.empty()) return;
  deadlines_.clear();
  model_waits_.clear();
  for (auto& [model, queues] : queues_) {
    for (Lane& lane : queues.lanes) {
      for (QueuedJob& job : lane) {
        job.enqueued_ns += delta_ns;
        job.deadline_ns = job.enqueued_ns + options_.wait_timeout_ms * 1'000'000;
        if (job.expires_ns != 0) job.deadline_ns = std::min(job.deadline_ns, job.expires_ns);
        deadlines_.emplace(job.deadline_ns, job.id);
        if (job.model_wait_ns != 0) {
          job.model_wait_ns += delta_ns;
          model_waits_.emplace(job.model_wait_ns, job.id);
        }
      }
    }
  }
}

void JobQueue::arm_model_wait(const ModelName& model) {
  if (!armed_.insert(model).second) return;
  auto it = queues_.find(model);
  if (it == queues_.end()) return;
  int64_t at = clock_.now_ns() + options_.model_wait_ms * 1'000'000;
  for (Lane& lane : it->second.lanes) {
    for (QueuedJob& job : lane) {
      job.model_wait_ns = at;
      model_waits_.emplace(at, job.id);
    }
  }
}

void JobQueue::disarm_model_wait(const ModelName& model) {
  if (armed_.erase(model) == 0) return;
  auto it = queues_.find(model);
  if (it == queues_.end()) return;
  for (Lane& lane : it->second.lanes) {
    for (QueuedJob& job : lane) {
      if (job.model_wait_ns != 0) model_waits_.erase({job.model_wait_ns, job.id});
      job.model_wait_ns = 0;
    }
  }
}

std::vector<QueuedJob> JobQueue::take_model_wait_expired() {
  std::vector<QueuedJob> expired;
  int64_t now = clock_.now_ns();
  while (!model_waits_.empty() && model_waits_.begin()->first <= now) {
    JobId id = model_waits_.begin()->second;
    expired.push_back(erase(index_.find(id)));
  }
  return expired;
}

std::vector<JobId> JobQueue::ids(const ModelName& model, size_t limit) const {
  std::vector<JobId> out;
  auto it = queues_.find(model);
  if (it == queues_.end()) return out;
  for (const Lane& lane : it->second.lanes) {
    for (const QueuedJob& job : lane) {
      if (out.size() >= limit) return out;
      out.push_back(job.id);
    }
  }
  return out;
}

size_t JobQueue::size(const ModelName& model) const {
  auto it = queues_.find(model);
  return it == queues_.end() ? 0 : it->second.size();
}

std::vector<ModelName> JobQueue::models() const {
  std::vector<ModelName> out;
  out.reserve(queues_.size());
  for (const auto& [model, q] : queues_) out.push_back(model);
  return out;
}

std::vector<JobQueue::LaneStats> JobQueue::lane_stats() const {
  std::vector<LaneStats> out;
  for (const auto& [model, queues] : queues_) {
    for (int lane = 0; lane < kNumPriorities; ++lane) {
      const Lane& jobs = queues.lanes[lane];
      if (jobs.empty()) continue;
      int64_t oldest = jobs.front().enqueued_ns;  // a requeued job (at the front) may be newer
      for (const QueuedJob& j : jobs) oldest = std::min(oldest, j.enqueued_ns);
      out.push_back({.model = model,
                     .priority = lane == 1 ? Priority::kBatch : Priority::kInteractive,
                     .depth = jobs.size(),
                     .oldest_enqueued_ns = oldest});
    }
  }
  return out;
}

}  // namespace rs::broker
