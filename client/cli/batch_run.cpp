// `ringserve batch run INPUT -o OUTPUT`: enqueue through the ingest stream (at most
// --concurrency in flight), drain the batch's results (group "pipeline", consumer "cli"),
// one flushed OUTPUT line per input line, then XACK. Resumes from OUTPUT on re-run.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "batch_command.h"
#include "batch_output.h"
#include "batch_progress.h"
#include "json_format.h"

namespace rs::cli {

namespace {

constexpr char kGroup[] = "pipeline";
constexpr char kConsumer[] = "cli";
constexpr size_t kReadCount = 256;
constexpr int64_t kOutageMs = 30000;     // Redis unavailable this long: give up (resume later)
constexpr int64_t kOutageRetryMs = 500;

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_sigint(int) { g_interrupted = 1; }

// SIGINT sets a flag for the loop (a second one kills: SA_RESETHAND); restored on exit.
class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_);
  }
  ~SigintGuard() { ::sigaction(SIGINT, &old_, nullptr); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  struct sigaction old_ {};
};

int64_t run_steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

enum class LineState : uint8_t { kWaiting, kEnqueued, kDone };

class BatchRun {
 public:
  BatchRun(const BatchRunArgs& args, store::RedisConnection& conn, std::string batch, std::vector<BatchLine> lines,
           const OutputScan& scan)
      : args_(args),
        conn_(conn),
        batch_(std::move(batch)),
        lines_(std::move(lines)),
        state_(lines_.size(), LineState::kWaiting),
        ingest_(conn),
        results_(conn),
        done_(mark_done(scan)),
        failed_(std::min(scan.failed, done_)),
        progress_(batch_, done_, ::isatty(STDERR_FILENO) == 1, args.progress_ms) {}

  Status prepare() {
    RS_RETURN_IF_ERROR(write_batch_hash());
    RS_RETURN_IF_ERROR(results_.ensure_group(batch_, kGroup));
    return writer_.open(args_.output);
  }

  Status write_batch_hash() {
    const std::string key = keys_.batch(batch_);
    RS_ASSIGN_OR_RETURN(auto replies, conn_.pipeline({{"HSET", key, "total", std::to_string(lines_.size()), "input",
                                                       absolute(args_.input), "output", absolute(args_.output)},
                                                      {"HSETNX", key, "created_ms", std::to_string(unix_ms())}}));
    for (const auto& r : replies) RS_RETURN_IF_ERROR(r.error_status("batch hash"));
    return Status();
  }

  // Results delivered to this consumer before and never acked (a run died between its
  // write and its ack): written only if OUTPUT lacks their id.
  Status drain_pending() {
    for (;;) {
      RS_ASSIGN_OR_RETURN(auto results, results_.read_pending(batch_, kGroup, kConsumer, kReadCount));
      if (results.empty()) return Status();
      RS_RETURN_IF_ERROR(take(results));
    }
  }

  // Until every line has its result, or SIGINT (returns true then). Redis unavailable for
  // less than kOutageMs is waited out (then the pending results are drained again).
  Result<bool> loop() {
    const int64_t block_ms = std::max<int64_t>(1, std::min<int64_t>(args_.block_ms, args_.options.common.timeout_ms / 2));
    int64_t outage_since_ms = -1;
    while (done_ < lines_.size()) {
      if (g_interrupted != 0) return true;
      Status s = outage_since_ms >= 0 ? recover() : Status();
      if (s.ok() && outage_since_ms >= 0) {
        std::fprintf(stderr, "note: redis is back\n");
        outage_since_ms = -1;
      }
      if (s.ok()) s = step(block_ms);
      if (!s.ok()) {
        if (s.code() != StatusCode::kUnavailable) return s;
        int64_t now = run_steady_ms();
        if (outage_since_ms < 0) {
          outage_since_ms = now;
          std::fprintf(stderr, "note: %s; retrying for up to %lld s\n", s.message().c_str(),
                       static_cast<long long>(kOutageMs / 1000));
        } else if (now - outage_since_ms > kOutageMs) {
          return s;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(kOutageRetryMs));
      }
      progress_.update(counts());
    }
    return false;
  }

  ProgressCounts counts() const { return {lines_.size(), done_, failed_}; }
  BatchProgress& progress() { return progress_; }
  size_t ignored() const { return ignored_; }
  size_t enqueued() const { return enqueued_; }

 private:
  Status step(int64_t block_ms) {
    RS_RETURN_IF_ERROR(enqueue_more());
    if (g_interrupted != 0) return Status();
    RS_ASSIGN_OR_RETURN(auto results, results_.read(batch_, kGroup, kConsumer, kReadCount, block_ms));
    return take(results);
  }

  // After an outage: the group again (a Redis that lost its data lost it too), the pending
  // results, and the in-flight items enqueued again (their entries may be gone; when they
  // are not, the broker's idempotency makes each repeat the same job).
  Status recover() {
    RS_RETURN_IF_ERROR(write_batch_hash());
    RS_RETURN_IF_ERROR(results_.ensure_group(batch_, kGroup));
    RS_RETURN_IF_ERROR(drain_pending());
    for (size_t i = 0; i < next_; ++i) {
      if (state_[i] != LineState::kEnqueued) continue;
      state_[i] = LineState::kWaiting;
      --in_flight_;
    }
    next_ = 0;
    return Status();
  }

  // Indexes the lines; those already in OUTPUT are done. Returns how many.
  size_t mark_done(const OutputScan& scan) {
    size_t done = 0;
    for (size_t i = 0; i < lines_.size(); ++i) {
      index_.emplace(lines_[i].id, i);
      if (scan.ids.count(lines_[i].id) > 0) {
        state_[i] = LineState::kDone;
        ++done;
      }
    }
    return done;
  }

  Status enqueue_more() {
    while (in_flight_ < args_.concurrency && next_ < lines_.size() && g_interrupted == 0) {
      size_t i = next_++;
      if (state_[i] != LineState::kWaiting) continue;
      store::IngestItem item;
      item.batch = batch_;
      item.item_id = lines_[i].id;
      item.request = lines_[i].request;
      RS_ASSIGN_OR_RETURN(std::string entry, ingest_.append(item));
      (void)entry;
      state_[i] = LineState::kEnqueued;
      ++in_flight_;
      ++enqueued_;
    }
    return Status();
  }

  // Writes (and flushes) each result whose id has no line yet, then acks them all.
  Status take(const std::vector<store::BatchResult>& results) {
    std::vector<std::string> acks;
    acks.reserve(results.size());
    for (const auto& r : results) {
      acks.push_back(r.entry_id);
      auto it = index_.find(r.item_id);
      if (it == index_.end()) {
        ++ignored_;
        continue;
      }
      LineState& s = state_[it->second];
      if (s == LineState::kDone) continue;
      RS_RETURN_IF_ERROR(writer_.write(output_line(r)));
      if (s == LineState::kEnqueued) --in_flight_;
      s = LineState::kDone;
      ++done_;
      if (r.record.state != schemas::JobState::kSucceeded) ++failed_;
    }
    return results_.ack(batch_, kGroup, acks);
  }

  const BatchRunArgs& args_;
  store::RedisConnection& conn_;
  store::KeySpace keys_;
  std::string batch_;
  std::vector<BatchLine> lines_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<LineState> state_;
  store::IngestStream ingest_;
  store::BatchResults results_;
  OutputWriter writer_;
  size_t done_ = 0;    // lines with their OUTPUT line
  size_t failed_ = 0;  // of done_: not SUCCEEDED
  BatchProgress progress_;
  size_t next_ = 0;
  size_t in_flight_ = 0;
  size_t ignored_ = 0;
  size_t enqueued_ = 0;
};

void print_summary(const BatchRunArgs& args, const std::string& batch, const BatchRun& run, bool interrupted) {
  ProgressCounts c = run.counts();
  if (run.ignored() > 0) {
    std::fprintf(stderr, "note: %zu result(s) for ids not in %s skipped\n", run.ignored(), args.input.c_str());
  }
  if (interrupted) {
    std::fprintf(stderr, "interrupted: %zu/%zu lines in %s; run the same command again to resume\n", c.done, c.total,
                 args.output.c_str());
  }
  if (args.options.common.json) {
    nlohmann::json j{{"batch", batch},         {"total", c.total},          {"written", c.done},
                     {"failed", c.failed},      {"succeeded", c.done - c.failed}, {"enqueued", run.enqueued()},
                     {"output", args.output},   {"interrupted", interrupted}};
    std::printf("%s\n", json_line(j).c_str());
  } else {
    std::printf("batch %s: %zu/%zu lines in %s (%zu succeeded, %zu failed)\n", batch.c_str(), c.done, c.total,
                args.output.c_str(), c.done - c.failed, c.failed);
  }
  std::fflush(stdout);
}

int fail(const BatchRunArgs& args, const Status& s) {
  int rc = report_status(args.options.common, s);
  std::fprintf(stderr, "what is in %s stays; run the same command again to resume\n", args.output.c_str());
  return rc;
}

}  // namespace

int run_batch_run(const BatchRunArgs& args) {
  const CommonOptions& common = args.options.common;
  auto lines = read_batch_input(args.input, args.defaults);
  if (!lines.ok()) return report_status(common, lines.status());
  auto scan = scan_output(args.output);
  if (!scan.ok()) return report_status(common, scan.status());
  if (scan->cut_torn_line) std::fprintf(stderr, "note: cut an incomplete last line from %s\n", args.output.c_str());
  auto batch = resolve_batch_id(args.batch, args.output, scan->exists);
  if (!batch.ok()) return report_status(common, batch.status());
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  BatchRun run(args, (*access)->connection(), *batch, std::move(lines).value(), *scan);
  std::fprintf(stderr, "batch %s: %zu lines, %zu already in %s (redis %s)\n", batch->c_str(), run.counts().total,
               run.counts().done, args.output.c_str(), (*access)->address().c_str());
  SigintGuard guard;
  if (Status s = run.prepare(); !s.ok()) return fail(args, s);
  if (Status s = run.drain_pending(); !s.ok()) return fail(args, s);
  auto interrupted = run.loop();
  if (!interrupted.ok()) return fail(args, interrupted.status());
  run.progress().finish(run.counts());
  print_summary(args, *batch, run, *interrupted);
  return *interrupted ? kExitInterrupted : kExitOk;
}

}  // namespace rs::cli
