#include "store_writer.h"

#include "owned_handoff.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace rs::broker {

StoreWriter::StoreWriter(zmq::context_t& context, StoreWriterOptions options)
    : context_(context), options_(std::move(options)) {
  static std::atomic<uint64_t> instances{0};
  endpoint_ = "inproc://rs-store-writer-" + std::to_string(instances.fetch_add(1));
}

StoreWriter::~StoreWriter() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) {
    send_owned(loop_side_, std::unique_ptr<Batch>(), to_writer_);  // wakes a waiting writer
    thread_.join();
  }
  if (loop_side_) {  // batches the writer never took, and events the loop never read
    loop_side_.set(zmq::sockopt::rcvtimeo, 0);
    while (recv_owned<StoreEvent>(loop_side_, zmq::recv_flags::dontwait, to_loop_)) {
    }
  }
}

Status StoreWriter::start() {
  try {
    loop_side_ = make_pair_socket(context_);
    loop_side_.bind(endpoint_);
    zmq::socket_t writer_side = make_pair_socket(context_);
    writer_side.connect(endpoint_);
    thread_ = std::thread([this, s = std::move(writer_side)]() mutable {
      zmq::socket_t socket = std::move(s);
      run_on(socket);
    });
  } catch (const zmq::error_t& e) {
    return {StatusCode::kUnavailable, std::string("store writer: ") + e.what()};
  }
  return Status();
}

uint64_t StoreWriter::submit(std::vector<store::RedisCommand> commands) {
  auto batch = std::make_unique<Batch>(Batch{next_seq_, std::move(commands)});
  if (!send_owned(loop_side_, std::move(batch), to_writer_)) {
    spdlog::critical("broker: store writer queue refused a batch");  // HWM 0: cannot happen
  }
  return next_seq_++;
}

std::optional<StoreEvent> StoreWriter::next_event() {
  std::unique_ptr<StoreEvent> e =
      recv_owned<StoreEvent>(loop_side_, zmq::recv_flags::dontwait, to_loop_);
  if (!e) return std::nullopt;
  return std::move(*e);
}

void StoreWriter::run_on(zmq::socket_t& socket) {
  store::RedisConnection redis(options_.redis);
  (void)redis.connect();
  while (!stop_.load(std::memory_order_relaxed)) {
    std::unique_ptr<Batch> batch = recv_owned<Batch>(socket, zmq::recv_flags::none, to_writer_);
    if (!batch) break;  // the stop sentinel (or the context ending)
    if (!apply(socket, redis, *batch)) break;
    timespec cpu{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
      cpu_ns_.store(
          static_cast<uint64_t>(cpu.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(cpu.tv_nsec),
          std::memory_order_relaxed);
    }
  }
  // Batches still queued are dropped with the writer (the broker is stopping).
  while (auto rest = recv_owned<Batch>(socket, zmq::recv_flags::dontwait, to_writer_)) {
  }
}

bool StoreWriter::apply(zmq::socket_t& out, store::RedisConnection& redis, Batch& batch) {
  int wait = options_.retry_min_ms;
  bool reported = false;
  for (int attempt = 1;; ++attempt) {
    auto replies = redis.pipeline(batch.commands);
    if (replies.ok()) {
      auto e = std::make_unique<StoreEvent>();
      e->seq = batch.seq;
      e->replies = std::move(replies).value();
      e->attempts = attempt;
      send_owned(out, std::move(e), to_loop_);
      return true;
    }
    // (A connection that died while idle was already replaced once by pipeline().)
    redis.disconnect();
    if (!reported) {
      reported = true;
      auto e = std::make_unique<StoreEvent>();
      e->kind = StoreEvent::Kind::kFailing;
      e->seq = batch.seq;
      e->error = replies.status();
      send_owned(out, std::move(e), to_loop_);
    }
    if (!wait_ms(wait)) return false;
    wait = std::min(wait * 2, options_.retry_max_ms);
    (void)redis.connect();
  }
}

bool StoreWriter::wait_ms(int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (stop_.load(std::memory_order_relaxed)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 10)));
  }
  return !stop_.load(std::memory_order_relaxed);
}

}  // namespace rs::broker
