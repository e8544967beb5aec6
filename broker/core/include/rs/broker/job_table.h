// JobTable: the broker's one table of live jobs. Each entry holds everything the broker
// knows of a job: the Dispatcher's part (spec and parsed model target, current attempt and
// the device it runs on: the fence that tells a current message from a stale one; the model
// key it was dispatched with, a pending cancel, the device a recovered job waits on) and
// the loop's part (JobStream: request, record, submitter, subscribers, next seq, tokens).
// An entry is added by its owner (the broker loop) and admitted to the Dispatcher, which
// sees only admitted entries; when the Dispatcher is done with a job it un-admits it and
// the owner erases it once the job's end is staged. A Dispatcher without an owner's table
// uses its own, whose ended entries are erased at once. The broker loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rs/broker/model_catalog.h"
#include "rs/broker/types.h"
#include "rs/schemas/messages.h"

namespace rs::broker {

struct JobSubmit {
  JobId id;
  ModelName model;  // reference: "name" (unpinned) or "name@version" (pinned)
  Priority priority = Priority::kInteractive;
  uint64_t route_key = 0;  // routing_key(RouteRequest)
  std::string session_id;  // empty: none (session stickiness, canary bucket)
  int64_t expires_ns = 0;  // 0, or (clock time) a first attempt still queued then fails expired
};

struct JobSubscriber {
  std::vector<std::string> peer;  // the client's routing ids
  uint64_t from_seq = 0;
};

// The broker loop's part of a live job: what goes on the wire and into Redis.
struct JobStream {
  schemas::SubmitRequest request;
  schemas::JobRecord record;
  std::vector<std::string> submitter;  // routing ids; empty: none (ingest, or it went away)
  std::vector<JobSubscriber> subscribers;
  uint64_t next_seq = 0;
  int64_t accepted_ns = 0;
  int64_t first_token_ns = 0;
  bool running_written = false;
  std::string batch;    // ingest: the batch (job hash field `batch`), "" = none
  std::string item_id;  // ingest: the producer's id of the item
  std::string text;     // a batch job's generated text so far (for its result)
  // The token ids delivered so far (seqs 0..): a new attempt resumes after them. Kept
  // only while it matches next_seq (a recovered job's come from its token log).
  std::vector<int32_t> tokens;
  // The submitter gets tokens through a subscription of its own (it re-subscribed, e.g.
  // after `lagged` or a reconnect), not directly: no token or DONE goes to it twice.
  bool submitter_subscribed = false;
};

struct JobEntry {
  bool admitted = false;  // the Dispatcher's (it routes, queues and fences it)
  JobSubmit spec;
  ModelTarget target;               // parsed spec.model, session and route key
  uint32_t attempt = 1;             // the current attempt (>= 1)
  std::optional<DeviceKey> device;  // set while the current attempt is dispatched
  uint64_t seq = 0;                 // submission order, for fair requeueing
  uint32_t uncounted = 0;           // attempts handed back (a draining worker): not failures
  ModelName dispatched_key;         // the key of the current attempt while dispatched
  bool cancel_requested = false;
  // Recovered after a restart as dispatched on this device: waits for its worker's READY.
  std::optional<DeviceKey> recovering_on;
  JobStream stream;  // the loop's part
};

class JobTable {
 public:
  // owned: the table belongs to the broker loop (ended jobs wait for erase()); else to a
  // lone Dispatcher (ended jobs are erased at once).
  explicit JobTable(uint32_t max_attempts = 3, bool owned = false)
      : max_attempts_(max_attempts), owned_(owned) {}

  // The owner's side: every entry, admitted or not.
  JobEntry* insert(const JobId& job, JobStream stream);  // nullptr if the id has an entry
  JobEntry* find_any(const JobId& job);
  const JobEntry* find_any(const JobId& job) const;
  bool erase(const JobId& job);
  std::unordered_map<JobId, JobEntry>& entries() { return jobs_; }
  size_t n_entries() const { return jobs_.size(); }

  // The Dispatcher's side: admitted entries only.
  // Admits the job at `attempt` (at least 1), adding its entry if it has none; nullptr if
  // it is already admitted.
  JobEntry* add(const JobSubmit& spec, ModelTarget target, uint32_t attempt = 1);
  // The Dispatcher is done with the job (done, failed, cancelled): un-admitted (erased
  // unless owned). False if it was not admitted.
  bool end(const JobId& job);
  JobEntry* find(const JobId& job);
  const JobEntry* find(const JobId& job) const;
  bool contains(const JobId& job) const { return find(job) != nullptr; }
  void set_max_attempts(uint32_t n) { max_attempts_ = n; }

  // Records the device of the current attempt (dispatch, adoption); false if unknown.
  bool set_dispatched(const JobId& job, const DeviceKey& device);
  // Gives up on the current attempt: clears the device and returns the next attempt
  // number, or nullopt if that would pass max_attempts (the job is then dead; call end).
  // counted = false: the attempt was handed back, not failed (it still moves the fence but
  // does not use up one of max_attempts).
  std::optional<uint32_t> next_attempt(const JobId& job, bool counted = true);

  // A recovered job waits on `device` for its worker to list it in READY.
  void set_recovering(JobEntry& entry, const DeviceKey& device);
  size_t recovering() const { return n_recovering_; }
  // Every job still waiting for adoption, taken off that wait (oldest first).
  std::vector<HeldJob> take_recovering();

  // True if a message about (job, attempt) is current: the job is live, dispatched, and
  // attempt is its current attempt. Anything else is stale and must be dropped.
  bool is_current(const JobId& job, uint32_t attempt) const;
  // True if the message also comes from the device the attempt was sent to.
  bool is_current(const JobId& job, uint32_t attempt, const DeviceKey& from) const;

  size_t size() const { return n_admitted_; }  // admitted jobs
  uint32_t max_attempts() const { return max_attempts_; }

 private:
  void clear_recovering(JobEntry& entry);

  uint32_t max_attempts_;
  bool owned_;
  size_t n_admitted_ = 0;
  uint64_t next_seq_ = 0;
  size_t n_recovering_ = 0;
  std::unordered_map<JobId, JobEntry> jobs_;
};

}  // namespace rs::broker
