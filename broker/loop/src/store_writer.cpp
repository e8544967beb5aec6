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
  if (!options_.journal_path.empty()) {
    journal_ = std::make_unique<WriteJournal>(options_.journal_path);
  }
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

Result<std::vector<size_t>> StoreWriter::open_journal() {
  std::vector<size_t> counts;
  if (!journal_) return counts;
  RS_ASSIGN_OR_RETURN(std::vector<JournalBatch> batches, journal_->open());
  std::lock_guard<std::mutex> lock(journal_mu_);
  for (const JournalBatch& b : batches) {
    JournalBatch replay;
    replay.reserve(b.size());
    for (const store::RedisCommand& c : b) replay.push_back(WriteJournal::replay_form(c));
    counts.push_back(replay.size());
    last_journaled_ = submitted_ = next_seq_;
    auto batch = std::make_unique<Batch>(Batch{next_seq_++, std::move(replay)});
    send_owned(loop_side_, std::move(batch), to_writer_);
  }
  journaling_ = !batches.empty();
  if (journaling_) {
    spdlog::warn("broker: journal {} holds {} write batch(es) a previous broker could not "
                 "apply; re-applying them before recovery",
                 journal_->path(), batches.size());
  }
  return counts;
}

uint64_t StoreWriter::submit(std::vector<store::RedisCommand> commands, bool* releasable) {
  auto batch = std::make_unique<Batch>(Batch{next_seq_, std::move(commands)});
  bool journaled = true;
  std::unique_lock<std::mutex> lock;
  if (journal_) {  // the send too is under the lock: journal_held takes every batch before it
    lock = std::unique_lock<std::mutex>(journal_mu_);
    journaled = journaling_ && journal_locked(*batch);
    submitted_ = next_seq_;
  }
  if (!send_owned(loop_side_, std::move(batch), to_writer_)) {
    spdlog::critical("broker: store writer queue refused a batch");  // HWM 0: cannot happen
  }
  if (releasable != nullptr) *releasable = journaled;
  return next_seq_++;
}

bool StoreWriter::journal_locked(const Batch& batch) {
  if (journal_broken_) return false;
  Status s = journal_->append(batch.commands);
  if (s.ok()) {
    last_journaled_ = batch.seq;
    return true;
  }
  spdlog::error("broker: cannot append to the journal ({}); held writes are in memory only "
                "until Redis answers, and their tokens wait for it",
                s.to_string());
  journal_broken_ = true;
  return false;
}

void StoreWriter::journal_held(zmq::socket_t& socket, const Batch& failing) {
  std::lock_guard<std::mutex> lock(journal_mu_);
  journaling_ = true;
  if (failing.seq > last_journaled_) (void)journal_locked(failing);
  for (const auto& b : taken_) {
    if (b->seq > last_journaled_) (void)journal_locked(*b);
  }
  // Every batch submitted so far is on its way (sent under the lock): take them in order.
  uint64_t last = taken_.empty() ? failing.seq : taken_.back()->seq;
  while (last < submitted_ && !stop_taken_) {
    std::unique_ptr<Batch> b = recv_owned<Batch>(socket, zmq::recv_flags::none, to_writer_);
    if (!b) {
      stop_taken_ = true;  // the stop sentinel
      break;
    }
    last = b->seq;
    if (b->seq > last_journaled_) (void)journal_locked(*b);
    taken_.push_back(std::move(b));
  }
}

void StoreWriter::journal_applied(uint64_t seq) {
  std::lock_guard<std::mutex> lock(journal_mu_);
  if (!journaling_ || seq < last_journaled_) return;
  if (Status s = journal_->clear(); !s.ok()) {
    spdlog::error("broker: cannot empty the journal: {}", s.to_string());
    return;  // stays on: a replay of applied batches is harmless
  }
  journaling_ = false;
  journal_broken_ = false;
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
    std::unique_ptr<Batch> batch;
    if (!taken_.empty()) {  // taken off the socket into the journal when a batch failed
      batch = std::move(taken_.front());
      taken_.pop_front();
    } else if (!stop_taken_) {
      batch = recv_owned<Batch>(socket, zmq::recv_flags::none, to_writer_);
    }
    if (!batch) break;  // the stop sentinel (or the context ending)
    if (!apply(socket, redis, *batch)) break;
    if (journal_) journal_applied(batch->seq);
    timespec cpu{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
      cpu_ns_.store(
          static_cast<uint64_t>(cpu.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(cpu.tv_nsec),
          std::memory_order_relaxed);
    }
  }
  // Batches still queued are dropped with the writer (the broker is stopping); those in the
  // journal stay there for the next start.
  taken_.clear();
  while (auto rest = recv_owned<Batch>(socket, zmq::recv_flags::dontwait, to_writer_)) {
  }
}

bool StoreWriter::apply(zmq::socket_t& out, store::RedisConnection& redis, Batch& batch) {
  int wait = options_.retry_min_ms;
  bool reported = false;
  auto report = [&](const Status& why) {
    if (reported) return;
    reported = true;
    auto e = std::make_unique<StoreEvent>();
    e->kind = StoreEvent::Kind::kFailing;
    e->seq = batch.seq;
    e->error = why;
    e->journaled_seq = UINT64_MAX;
    if (journal_) {
      journal_held(out, batch);
      std::lock_guard<std::mutex> lock(journal_mu_);
      e->journaled_seq = last_journaled_;
    }
    send_owned(out, std::move(e), to_loop_);
  };
  store::PipelinePatience patience{
      .patience_ms = options_.stall_patience_ms,
      .on_stall = report,
      .should_stop = [this] { return stop_.load(std::memory_order_relaxed); }};
  for (int attempt = 1;; ++attempt) {
    const auto started = std::chrono::steady_clock::now();
    auto replies = redis.pipeline(batch.commands, &patience);
    if (options_.pipeline_seconds != nullptr) {
      options_.pipeline_seconds->observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    if (replies.ok()) {
      auto e = std::make_unique<StoreEvent>();
      e->seq = batch.seq;
      e->replies = std::move(replies).value();
      e->attempts = attempt;
      e->spent = std::move(batch.commands);
      send_owned(out, std::move(e), to_loop_);
      return true;
    }
    // The connection broke (Redis restarted: nothing of the old one can run later) or the
    // stall outlasted stall_patience_ms. (A connection that died while idle was already
    // replaced once by pipeline().)
    redis.disconnect();
    report(replies.status());
    if (attempt == 1) {
      // Redis may have applied the batch before the connection broke: a batch result (an
      // XADD with an automatic id, the one write that is not idempotent) is sent again in
      // its guarded form, as a journal replay is.
      for (store::RedisCommand& c : batch.commands) c = WriteJournal::replay_form(c);
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
