#include "rs/broker/job_queue.h"

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
  int lane = job.priority == Priority::kBatch ? 1 : 0;
  Lane& queue = queues_[job.model].lanes[lane];
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
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
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

}  // namespace rs::broker
