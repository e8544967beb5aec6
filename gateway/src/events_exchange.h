// EventsExchange: GET /v1/jobs/{id}/events, a job's stream resumed from any point (after a
// dropped connection, a gateway or broker restart, from any gateway, or after the job
// ended while its log is kept). It reads the job's record for its api_meta, subscribes
// from seq 0 and replays silently up to the client's Last-Event-ID, so the events after it
// are exactly those of the original stream. Asio thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "completion_format.h"
#include "http_session.h"

namespace rs::gateway {

struct GatewayContext;
struct BridgeEvent;

class EventsExchange : public Exchange, public std::enable_shared_from_this<EventsExchange> {
 public:
  // after_seq: the last event id the client saw (nullopt: from the start).
  EventsExchange(std::weak_ptr<HttpSession> session, GatewayContext& context, std::string job_id,
                 std::optional<uint64_t> after_seq, std::string tenant);
  ~EventsExchange() override;
  void start() override;
  void client_gone() override;

 private:
  void on_status(BridgeEvent event);
  void on_event(BridgeEvent event);
  void finish(const schemas::JobRecord& record);
  void stop_watching();

  std::weak_ptr<HttpSession> session_;
  GatewayContext& context_;
  std::string job_id_;
  std::string tenant_;
  uint64_t listener_id_ = 0;
  ApiMeta meta_;
  ChoiceAssembler assembler_;
  bool streaming_ = false;
  bool watching_ = false;
  bool ended_ = false;
};

}  // namespace rs::gateway
