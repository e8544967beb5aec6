#include "turn_batch.h"

namespace rs::broker {

size_t TurnBatch::add_create(PendingCreate create, store::RedisCommand command) {
  const size_t index = creates_.size();
  const std::string& key = create.request.idempotency_key;
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
  writes_.push_back(Write{std::move(command), WriteKind::kCreate, index});
  ++n_writes_;
  return index;
}

void TurnBatch::add_job_fields(const std::string& job, store::HashFields fields) {
  auto [it, inserted] = last_hset_.emplace(job, writes_.size());
  if (!inserted) {
    Write& earlier = writes_[it->second];
    // Fields of the earlier set first: Redis applies a repeated field last-wins.
    earlier.fields.insert(earlier.fields.end(), std::make_move_iterator(fields.begin()),
                          std::make_move_iterator(fields.end()));
    fields = std::move(earlier.fields);
    earlier.job.clear();
    earlier.fields.clear();
    --n_writes_;
    it->second = writes_.size();
  }
  writes_.push_back(Write{.kind = WriteKind::kHset, .job = job, .fields = std::move(fields)});
  ++n_writes_;
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

void TurnBatch::add_write(store::RedisCommand command, WriteKind kind) {
  writes_.push_back(Write{std::move(command), kind, 0});
  ++n_writes_;
}

void TurnBatch::add_read(DeferredRead read, std::vector<store::RedisCommand> commands) {
  for (store::RedisCommand& c : commands) {
    read_commands_.push_back(std::move(c));
    read_of_.push_back(reads_.size());
  }
  reads_.push_back(std::move(read));
}

std::vector<store::RedisCommand> TurnBatch::take_commands(const store::JobStore& jobs) {
  std::vector<store::RedisCommand> out;
  out.reserve(n_writes_ + read_commands_.size());
  kinds_out_.clear();
  create_of_out_.clear();
  for (Write& w : writes_) {
    if (w.kind == WriteKind::kHset) {
      if (w.job.empty()) continue;  // merged into a later set of the same job
      out.push_back(jobs.set_fields_command(w.job, w.fields));
    } else {
      out.push_back(std::move(w.command));
    }
    kinds_out_.push_back(w.kind);
    create_of_out_.push_back(w.create);
  }
  for (size_t i = 0; i < read_commands_.size(); ++i) {  // after every write
    out.push_back(std::move(read_commands_[i]));
    kinds_out_.push_back(WriteKind::kRead);
    create_of_out_.push_back(read_of_[i]);
  }
  read_commands_.clear();
  read_of_.clear();
  writes_.clear();
  last_hset_.clear();
  n_writes_ = 0;
  return out;
}

}  // namespace rs::broker
