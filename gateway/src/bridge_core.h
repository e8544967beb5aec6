// BridgeCore: the gateway's table of what it asked the broker and who waits for which job.
// Commands in (submit, subscribe, status, ...), broker messages in, deliveries and sends
// out; an injected clock drives request timeouts, broker liveness and re-subscription after
// the broker comes back. Pure (no sockets); owned by the BrokerBridge thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/messages.h"

namespace rs::gateway {

struct BridgeEvent {
  enum class Kind : uint8_t { kAccepted, kTokens, kDone, kError, kStatus, kWorkers };
  Kind kind = Kind::kError;
  std::string job_id;
  std::vector<schemas::TokenEntry> tokens;
  schemas::JobRecord record;
  std::vector<schemas::DeviceStatus> devices;
  Status error;
};
// Called on the bridge thread: a listener hands the event to its own thread.
using Listener = std::function<void(BridgeEvent)>;

// What the HTTP side asks for. listener_id 0: a one-shot request (no job stream follows).
struct BridgeCommand {
  enum class Kind : uint8_t { kSubmit, kSubscribe, kStatus, kCancel, kWorkers, kUnlisten };
  Kind kind = Kind::kStatus;
  uint64_t listener_id = 0;
  Listener listener;
  schemas::SubmitRequest submit;
  std::string job_id;
  uint64_t from_seq = 0;
};

// A request for the shell to send; request_id is filled by the shell's client.
using BrokerRequest =
    std::variant<schemas::SubmitRequest, schemas::SubscribeRequest, schemas::StatusRequest,
                 schemas::CancelRequest, schemas::WorkersRequest, schemas::Ping>;

struct BridgeOptions {
  int64_t request_timeout_ms = 5000;
  int64_t ping_interval_ms = 1000;
  int64_t broker_dead_ms = 3000;  // no PONG for this long: the broker is down
};

class BridgeCore {
 public:
  // The shell's send: returns the request_id, or an error (the broker is unreachable).
  using Send = std::function<Result<uint64_t>(const BrokerRequest&)>;
  BridgeCore(BridgeOptions options, Send send) : options_(options), send_(std::move(send)) {}

  void on_command(BridgeCommand command, int64_t now_ms);
  void on_message(schemas::Message message, int64_t now_ms);
  // The TCP link to the broker went down / came back (the client's socket monitor).
  void on_link_lost();
  void on_link_restored(int64_t now_ms);
  // Timeouts and liveness; call every turn. Returns the ms until it wants to run again.
  int64_t on_tick(int64_t now_ms);

  bool broker_up() const { return broker_up_; }
  size_t jobs() const { return jobs_.size(); }
  uint64_t resubscriptions() const { return resubscriptions_; }

 private:
  struct Pending {
    BridgeCommand::Kind kind;
    uint64_t listener_id = 0;
    Listener listener;
    std::string job_id;
    int64_t deadline_ms = 0;
  };
  struct JobListener {
    uint64_t listener_id;
    Listener listener;
  };
  void deliver_error(const Listener& listener, const std::string& job_id, Status error);
  void send_request(const BrokerRequest& request, Pending pending, int64_t now_ms);
  void on_reply(uint64_t request_id, schemas::Message& message);
  void on_tokens(std::vector<schemas::TokenEntry>& entries);
  void on_done(schemas::JobRecord& record);
  void on_pong(int64_t now_ms);
  void unlisten(uint64_t listener_id);
  void resubscribe_all(int64_t now_ms);

  BridgeOptions options_;
  Send send_;
  std::unordered_map<uint64_t, Pending> pending_;                   // by request_id
  std::unordered_map<std::string, std::vector<JobListener>> jobs_;  // by job id
  bool broker_up_ = true;
  int64_t last_pong_ms_ = -1;
  int64_t next_ping_ms_ = 0;
  uint64_t ping_id_ = 0;
  uint64_t resubscriptions_ = 0;
};

}  // namespace rs::gateway
