#include "rs/worker/inbox.h"

#include <utility>

namespace rs::worker {

void Inbox::post(Command command) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(command));
  }
  cv_.notify_one();
}

std::vector<Command> Inbox::take(std::chrono::nanoseconds timeout) {
  std::vector<Command> out;
  std::unique_lock<std::mutex> lock(mu_);
  if (pending_.empty() && timeout.count() > 0) {
    cv_.wait_for(lock, timeout, [this] { return !pending_.empty(); });
  }
  out.swap(pending_);
  return out;
}

size_t Inbox::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

}  // namespace rs::worker
