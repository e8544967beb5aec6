// ClientStreams: what of each (client, job) stream may still go out. Stream messages
// (TOKENS, DONE) are posted in turn order and sent when their turn's writes are applied,
// so a message may wait while the stream changes: a send that finds the client's queue
// full cuts the stream (`lagged`), and a SUBSCRIBE replaces it. Each message carries the
// post id it was given; one posted to a stream before its last cut or SUBSCRIBE is dropped,
// so a new subscription gets exactly its replay and what follows. Also holds the `lagged`
// notices not yet delivered, the subscriptions whose replay has not been sent (their
// live TOKENS wait behind it), and each client's replies (ACCEPTED, REJECTED, STATUS,
// PONG...) that found its queue full: they are kept, in order, and sent as soon as it has
// room (a bounded number per client). Pure; the broker loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rs/broker/types.h"

namespace rs::broker {

class ClientStreams {
 public:
  struct LagNotice {                // a `lagged` ERROR not yet sent (the client's queue was full)
    std::vector<std::string> peer;  // the client's routing ids
    JobId job;
    uint64_t next_seq = 0;  // the first seq of the job not sent to the client
  };
  struct HeldReply {  // a reply the client's full queue did not take yet
    std::vector<std::string> peer;
    std::vector<std::string> frames;
  };
  static constexpr size_t kMaxNotices = 100000;
  static constexpr size_t kMaxHeldReplies = 4096;  // per client; past it replies are dropped

  // The id of a stream message being posted now (increasing).
  uint64_t next_post() { return next_post_id_++; }
  // Whether a message posted as post_id to client's stream of job may be sent.
  bool may_send(const std::string& client, const JobId& job, uint64_t post_id) const;

  // A send to client found its queue full at seq next_seq: the stream is cut (nothing
  // more of it goes out until the client subscribes again) and a notice is queued.
  void on_lagged(const std::vector<std::string>& peer, const JobId& job, uint64_t next_seq);
  bool lagged(const std::string& client, const JobId& job) const;
  // SUBSCRIBE of client to job: what was posted to its stream before now is dropped, and
  // so is a `lagged` notice of it not sent yet.
  // replay: the subscription starts with a replay from the log, not sent yet. Returns the
  // subscription's id (its answers are posted only while it is the client's current one).
  uint64_t on_subscribe(const std::string& client, const JobId& job, bool replay);
  bool is_current(const std::string& client, const JobId& job, uint64_t subscription) const;
  // The replay was posted (or failed): the subscription's live TOKENS may follow it.
  void replay_sent(const std::string& client, const JobId& job);
  bool replay_pending(const std::string& client, const JobId& job) const;

  // Sends the queued notices through `send` (false: the queue is still full; kept).
  void send_notices(const std::function<bool(const LagNotice&)>& send);

  // Replies: a client with held replies gets every later reply behind them (hold_reply),
  // and its stream messages count as not fitting (it is `lagged`).
  bool has_held_replies(const std::string& client) const {
    return !held_replies_.empty() && held_replies_.count(client) != 0;
  }
  // Keeps a reply to send later; false if the client's bound is reached (it is dropped).
  bool hold_reply(const std::vector<std::string>& peer, std::vector<std::string> frames);
  // Sends held replies in order through `send` (false: still full; the rest wait).
  void send_held_replies(const std::function<bool(const HeldReply&)>& send);
  size_t n_held_replies() const;

  // The client is gone: its notices and held replies are dropped.
  void drop_client(const std::string& client);
  // Forgets the cuts of jobs that ended (call only when no posted message can still wait).
  void forget_ended(const std::function<bool(const JobId&)>& is_live);

  bool idle() const { return cuts_.empty() && !has_pending_sends(); }
  // Notices or replies wait for a client's queue to have room (retried every turn).
  bool has_pending_sends() const { return !notices_.empty() || !held_replies_.empty(); }
  size_t n_notices() const { return notices_.size(); }

 private:
  static constexpr uint64_t kCutNow = UINT64_MAX;  // lagged, no SUBSCRIBE since
  using Key = std::pair<std::string, JobId>;

  uint64_t next_post_id_ = 1;
  std::map<Key, uint64_t> cuts_;  // messages posted before the value are dropped
  std::vector<LagNotice> notices_;
  std::set<Key> replays_pending_;
  std::map<std::string, std::deque<HeldReply>> held_replies_;  // by client routing id
};

}  // namespace rs::broker
