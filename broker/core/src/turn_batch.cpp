#include "turn_batch.h"

namespace rs::broker {

size_t TurnBatch::add_create(PendingCreate create, CreateJob write) {
  const size_t index = creates_.size();
  const std::string& key = write.request.idempotency_key;
  if (!key.empty()) {
    auto [it, inserted] = idempotent_.emplace(key, index);
    if (!inserted) {  // same key earlier in this turn: answered from that one's result
      create.dup_of = static_cast<int>(it->second);
      creates_.push_back(std::move(create));
      return index;
    }
  }
  n_admitted_ += create.admitted ? 1 : 0;
  creates_.push_back(std::move(create));
  // A plain create (no key: it cannot turn out a resubmission) takes the job's later
  // changes of this turn into its own HSET (QUEUED and DISPATCHED of a job admitted at once).
  if (key.empty() && write.ingest_entry.empty()) last_set_[write.record.job_id] = writes_.size();
  writes_.emplace_back(std::move(write));
  write_create_.push_back(index);
  ++n_writes_;
  return index;
}

void TurnBatch::add_job_change(const std::string& job, JobChange change) {
  auto [it, inserted] = last_set_.try_emplace(job, writes_.size());
  if (inserted) {
    SetJob set{.job = job};
    set.changes.push_back(std::move(change));
    writes_.emplace_back(std::move(set));
    write_create_.push_back(SIZE_MAX);
    ++n_writes_;
    return;
  }
  if (auto* create = std::get_if<CreateJob>(&writes_[it->second])) {
    create->changes.push_back(std::move(change));  // written with the job's creation
    return;
  }
  // Its earlier changes first, then this one, at this write's place.
  StoreWrite merged = std::move(writes_[it->second]);
  write_create_[it->second] = kMergedOut;
  std::get<SetJob>(merged).changes.push_back(std::move(change));
  it->second = writes_.size();
  writes_.push_back(std::move(merged));
  write_create_.push_back(SIZE_MAX);
}

void TurnBatch::withdraw_outgoing(const std::string& job) {
  for (Outgoing& out : outbox_) {
    if (out.job == job) out.frames.clear();
  }
}

void TurnBatch::add_token(schemas::TokenEntry entry) {
  auto [it, inserted] = token_group_of_.try_emplace(entry.job_id, token_groups_.size());
  if (inserted) token_groups_.emplace_back();
  token_groups_[it->second].push_back(std::move(entry));
}

std::vector<schemas::TokenEntry> TurnBatch::take_tokens(const std::string& job) {
  auto it = token_group_of_.find(job);
  if (it == token_group_of_.end()) return {};
  std::vector<schemas::TokenEntry> out = std::move(token_groups_[it->second]);
  token_groups_[it->second].clear();  // the slot stays (indexes of the others hold)
  return out;
}

std::vector<std::vector<schemas::TokenEntry>> TurnBatch::take_all_tokens() {
  std::vector<std::vector<schemas::TokenEntry>> out = std::move(token_groups_);
  token_groups_.clear();
  token_group_of_.clear();
  return out;
}

void TurnBatch::add_write(StoreWrite write) {
  writes_.push_back(std::move(write));
  write_create_.push_back(SIZE_MAX);
  ++n_writes_;
}

void TurnBatch::reserve_like(const TurnBatch& like) {
  writes_.reserve(like.writes_.size());
  write_create_.reserve(like.writes_.size());
  creates_.reserve(like.creates_.size());
  outbox_.reserve(like.outbox_.size());
}

void TurnBatch::add_read(DeferredRead read, std::vector<StoreRead> reads) {
  for (StoreRead& r : reads) {
    store_reads_.push_back(std::move(r));
    read_of_.push_back(reads_.size());
  }
  reads_.push_back(std::move(read));
}

StoreBatch TurnBatch::take_batch() {
  // The merged-out writes leave; the others close up in place, in order.
  create_of_out_.clear();
  create_of_out_.reserve(n_writes_);
  size_t kept = 0;
  for (size_t i = 0; i < writes_.size(); ++i) {
    if (write_create_[i] == kMergedOut) continue;
    if (kept != i) writes_[kept] = std::move(writes_[i]);
    create_of_out_.push_back(write_create_[i]);
    ++kept;
  }
  writes_.erase(writes_.begin() + static_cast<std::ptrdiff_t>(kept), writes_.end());
  StoreBatch out;
  out.writes = std::move(writes_);
  out.reads = std::move(store_reads_);  // after every write; read_of_ stays for the results
  writes_.clear();
  store_reads_.clear();
  write_create_.clear();
  last_set_.clear();
  n_writes_ = 0;
  return out;
}

}  // namespace rs::broker
