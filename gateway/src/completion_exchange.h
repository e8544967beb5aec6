// CompletionExchange: one POST /v1/completions. It submits one job per choice (prompts x n,
// detached, with the api_meta any gateway needs to rebuild the chunks), then answers once
// every choice ended (a whole response) or streams SSE chunks from the first token on.
// A failure before the first token is an error response, not a stream. A vanished client's
// jobs are cancelled after the grace unless the request was background. Asio thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "completion_format.h"
#include "completion_request.h"
#include "http_session.h"

namespace rs::gateway {

struct GatewayContext;
struct BridgeEvent;

class CompletionExchange : public Exchange,
                           public std::enable_shared_from_this<CompletionExchange> {
 public:
  CompletionExchange(std::weak_ptr<HttpSession> session, GatewayContext& context,
                     CompletionRequest request, std::string tenant);
  void start() override;
  void client_gone() override;

 private:
  struct Choice {
    uint64_t listener_id = 0;
    std::string job_id;
    bool accepted = false;
    bool ended = false;
    ApiMeta meta;
    ChoiceAssembler assembler;
    std::vector<TextPiece> held;  // pieces before the stream starts (or for the whole answer)
    schemas::JobRecord record;
    Status error;  // a failure of this choice
  };
  void on_event(size_t index, BridgeEvent event);
  void on_tokens(Choice& c, const std::vector<schemas::TokenEntry>& tokens);
  void on_end(Choice& c, const schemas::JobRecord* record, Status error);
  void maybe_start_stream();
  void send_pieces(Choice& c);
  void finish_stream_choice(Choice& c);
  void finish();
  void fail_before_start(const Status& error);
  void release_if_settled();
  schemas::SubmitRequest make_submit(size_t index, const std::string& prompt);
  bool all_accepted() const;
  bool all_ended() const;
  std::string job_ids() const;

  std::weak_ptr<HttpSession> session_;
  GatewayContext& context_;
  CompletionRequest request_;
  std::string tenant_;
  ApiMeta meta_;
  std::vector<Choice> choices_;
  bool started_ = false;   // SSE headers sent
  bool answered_ = false;  // the response (or its stream) ended
  bool gone_ = false;
  std::shared_ptr<CompletionExchange> self_;  // kept alive for a vanished client's cancels
};

}  // namespace rs::gateway
