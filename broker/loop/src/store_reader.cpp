#include "store_reader.h"

#include <spdlog/spdlog.h>

#include "owned_handoff.h"

namespace rs::broker {

StoreReader::StoreReader(zmq::context_t& context, store::RedisOptions redis)
    : context_(context), redis_(std::move(redis)) {
  static std::atomic<uint64_t> instances{0};
  endpoint_ = "inproc://rs-store-reader-" + std::to_string(instances.fetch_add(1));
}

StoreReader::~StoreReader() {
  if (thread_.joinable()) {
    send_owned(loop_side_, std::unique_ptr<Task>(), to_reader_);  // the stop sentinel
    thread_.join();
  }
  if (loop_side_) {  // finished tasks the loop never drained
    while (recv_owned<Task>(loop_side_, zmq::recv_flags::dontwait, to_loop_)) {
    }
  }
}

Status StoreReader::start() {
  try {
    loop_side_ = make_pair_socket(context_);
    loop_side_.bind(endpoint_);
    zmq::socket_t reader_side = make_pair_socket(context_);
    reader_side.connect(endpoint_);
    thread_ = std::thread([this, s = std::move(reader_side)]() mutable {
      zmq::socket_t socket = std::move(s);
      run_on(socket);
    });
  } catch (const zmq::error_t& e) {
    return {StatusCode::kUnavailable, std::string("store reader: ") + e.what()};
  }
  return Status();
}

void StoreReader::submit(Run run, Done done) {
  auto task = std::make_unique<Task>(Task{std::move(run), std::move(done)});
  if (!send_owned(loop_side_, std::move(task), to_reader_)) {
    spdlog::critical("broker: store reader queue refused a read");  // HWM 0: cannot happen
    return;
  }
  ++in_flight_;
}

void StoreReader::drain() {
  while (std::unique_ptr<Task> task =
             recv_owned<Task>(loop_side_, zmq::recv_flags::dontwait, to_loop_)) {
    --in_flight_;
    if (task->done) task->done();
  }
}

void StoreReader::run_on(zmq::socket_t& socket) {
  store::RedisConnection redis(redis_);
  (void)redis.connect();
  for (;;) {
    std::unique_ptr<Task> task = recv_owned<Task>(socket, zmq::recv_flags::none, to_reader_);
    if (!task) break;  // the stop sentinel (or the context ending)
    if (task->run) task->run(redis);
    task->run = nullptr;  // its captures are released here, on this thread
    if (!send_owned(socket, std::move(task), to_loop_)) break;
  }
}

}  // namespace rs::broker
