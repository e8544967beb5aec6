#include "rs/wire/poller.h"

#include <cerrno>

#include "zmq_status.h"

namespace rs::wire {

size_t Poller::add(zmq::socket_t& socket, short events) {
  if (items_.empty()) items_.reserve(kUsualItems);  // one allocation for a loop's few sockets
  items_.push_back(zmq::pollitem_t{socket.handle(), 0, events, 0});
  return items_.size() - 1;
}

void Poller::set_events(size_t index, short events) {
  if (index < items_.size()) items_[index].events = events;
}

Result<int> Poller::poll(long timeout_ms) {
  for (auto& item : items_) item.revents = 0;
  const int rc = zmq_poll(items_.data(), static_cast<int>(items_.size()), timeout_ms);
  if (rc >= 0) return rc;
  const int err = zmq_errno();
  if (err == EINTR) return 0;
  return zmq_status(err, "poll");
}

bool Poller::readable(size_t index) const {
  return index < items_.size() && (items_[index].revents & ZMQ_POLLIN) != 0;
}

bool Poller::writable(size_t index) const {
  return index < items_.size() && (items_[index].revents & ZMQ_POLLOUT) != 0;
}

}  // namespace rs::wire
