#include "rs/broker/client_streams.h"

#include <algorithm>

namespace rs::broker {

bool ClientStreams::may_send(const std::string& client, const JobId& job, uint64_t post_id) const {
  if (cuts_.empty()) return true;
  auto cut = cuts_.find({client, job});
  return cut == cuts_.end() || post_id >= cut->second;
}

void ClientStreams::on_lagged(const std::vector<std::string>& peer, const JobId& job,
                              uint64_t next_seq) {
  if (peer.empty()) return;
  cuts_[{peer.front(), job}] = kCutNow;
  if (notices_.size() >= kMaxNotices) notices_.erase(notices_.begin());
  notices_.push_back(LagNotice{peer, job, next_seq});
}

bool ClientStreams::lagged(const std::string& client, const JobId& job) const {
  auto cut = cuts_.find({client, job});
  return cut != cuts_.end() && cut->second == kCutNow;
}

uint64_t ClientStreams::on_subscribe(const std::string& client, const JobId& job, bool replay) {
  const uint64_t id = next_post_id_++;  // posts from here on belong to this subscription
  cuts_[{client, job}] = id;
  // A `lagged` notice of the stream this one replaces is moot (and would make the client
  // subscribe again from where its old stream was cut).
  if (!notices_.empty()) {
    std::erase_if(notices_, [&](const LagNotice& n) { return n.job == job && n.peer.front() == client; });
  }
  if (replay) {
    replays_pending_.emplace(client, job);
  } else {
    replays_pending_.erase({client, job});
  }
  return id;
}

bool ClientStreams::is_current(const std::string& client, const JobId& job,
                               uint64_t subscription) const {
  auto cut = cuts_.find({client, job});
  return cut != cuts_.end() && cut->second == subscription;
}

void ClientStreams::replay_sent(const std::string& client, const JobId& job) {
  replays_pending_.erase({client, job});
}

bool ClientStreams::replay_pending(const std::string& client, const JobId& job) const {
  return !replays_pending_.empty() && replays_pending_.count({client, job}) != 0;
}

void ClientStreams::send_notices(const std::function<bool(const LagNotice&)>& send) {
  std::erase_if(notices_, [&](const LagNotice& n) { return send(n); });
}

bool ClientStreams::hold_reply(const std::vector<std::string>& peer,
                               std::vector<std::string> frames) {
  if (peer.empty()) return false;
  std::deque<HeldReply>& held = held_replies_[peer.front()];
  if (held.size() >= kMaxHeldReplies) return false;
  held.push_back(HeldReply{peer, std::move(frames)});
  return true;
}

void ClientStreams::send_held_replies(const std::function<bool(const HeldReply&)>& send) {
  for (auto it = held_replies_.begin(); it != held_replies_.end();) {
    std::deque<HeldReply>& held = it->second;
    while (!held.empty() && send(held.front())) held.pop_front();
    it = held.empty() ? held_replies_.erase(it) : std::next(it);
  }
}

size_t ClientStreams::n_held_replies() const {
  size_t n = 0;
  for (const auto& [client, held] : held_replies_) n += held.size();
  return n;
}

void ClientStreams::drop_client(const std::string& client) {
  std::erase_if(notices_, [&](const LagNotice& n) { return n.peer.front() == client; });
  held_replies_.erase(client);
}

void ClientStreams::forget_ended(const std::function<bool(const JobId&)>& is_live) {
  std::erase_if(cuts_, [&](const auto& entry) { return !is_live(entry.first.second); });
}

}  // namespace rs::broker
