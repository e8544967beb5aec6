// StoreReader: the broker's own periodic reads (model registry polls, ingest stream reads)
// on a thread and Redis connection of their own, so the poll loop never waits on one. A
// read is a task: run() on the reader thread against its connection, then done() on the
// loop thread when the loop drains the reader's socket. Tasks run one at a time, in order;
// a run() touches only what its task owns (its captures) and the connection it is given.
// Constructed, started, fed and drained by the broker loop thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "rs/core/status.h"
#include "rs/store/redis_connection.h"

namespace rs::broker {

class StoreReader {
 public:
  using Run = std::function<void(store::RedisConnection&)>;
  using Done = std::function<void()>;

  StoreReader(zmq::context_t& context, store::RedisOptions redis);
  ~StoreReader();  // stops the thread; tasks not yet done are dropped (done() never runs)
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  Status start();
  // Queues a read; never blocks.
  void submit(Run run, Done done);
  // Calls done() of every read finished so far, in order (never blocks).
  void drain();
  zmq::socket_t& socket() { return loop_side_; }
  size_t in_flight() const { return in_flight_; }

 private:
  struct Task {
    Run run;
    Done done;
  };
  void run_on(zmq::socket_t& socket);

  zmq::context_t& context_;
  store::RedisOptions redis_;
  std::string endpoint_;
  zmq::socket_t loop_side_;
  std::thread thread_;
  std::atomic<uint64_t> to_reader_{0};  // hand-overs (owned_handoff.h)
  std::atomic<uint64_t> to_loop_{0};
  size_t in_flight_ = 0;
};

}  // namespace rs::broker
