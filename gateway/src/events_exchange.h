// EventsExchange: GET /v1/jobs/{id}/events, a job's stream resumed from any point (after a
// dropped connection, a gateway or broker restart, from any gateway, or after the job
// ended while its log is kept). It reads the job's record for its api_meta, subscribes
// from seq 0 and replays silently up to the client's Last-Event-ID, so the events after it
// are exactly those of the original stream, in the job's own format (text_completion or
// chat.completion chunks, response_format.h). Asio thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "access.h"
#include "http_session.h"
#include "response_format.h"

namespace rs::gateway {

struct GatewayContext;
struct BridgeEvent;

class EventsExchange : public Exchange, public std::enable_shared_from_this<EventsExchange> {
 public:
  // after_seq: the last event id the client saw (nullopt: from the start).
  EventsExchange(std::weak_ptr<HttpSession> session, GatewayContext& context, std::string job_id,
                 std::optional<uint64_t> after_seq, Caller caller);
  ~EventsExchange() override;
  void start() override;
  void client_gone() override;

 private:
  void on_status(BridgeEvent event);
  void on_event(BridgeEvent event);
  void send(HttpSession& session);
  void stop_watching();

  std::weak_ptr<HttpSession> session_;
  GatewayContext& context_;
  std::string job_id_;
  Caller caller_;
  std::optional<uint64_t> after_seq_;
  uint64_t listener_id_ = 0;
  std::optional<ChoiceEvents> events_;  // once the record's api_meta is known
  std::vector<std::string> out_;        // scratch: events to send
  bool streaming_ = false;
  bool watching_ = false;
  bool ended_ = false;
};

}  // namespace rs::gateway
