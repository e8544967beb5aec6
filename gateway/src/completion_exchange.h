// CompletionExchange: one POST /v1/completions or /v1/chat/completions, as its
// GenerationPlan: one detached job per choice, then the whole answer once every choice
// ended, or SSE chunks (response_format.h) from the head on. The head waits for one
// choice's first text (text_completion) or for every choice's first token (chat: a
// template that fails to render on the worker is still a 400). A failure before the head
// is an error response, and the other jobs are cancelled. A vanished client's jobs are
// cancelled after the grace unless the request was background. Asio thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "generation_plan.h"
#include "http_session.h"

namespace rs::gateway {

struct GatewayContext;
struct BridgeEvent;

class CompletionExchange : public Exchange,
                           public std::enable_shared_from_this<CompletionExchange> {
 public:
  CompletionExchange(std::weak_ptr<HttpSession> session, GatewayContext& context,
                     GenerationPlan plan);
  void start() override;
  void client_gone() override;

 private:
  struct Choice {
    uint64_t listener_id = 0;
    std::string job_id;
    bool accepted = false;
    bool first_token = false;  // a token arrived (its text may still wait for the rest)
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
  bool head_ready() const;
  void maybe_start_stream();
  void send_pieces(Choice& c);
  void finish_stream_choice(Choice& c);
  void finish();
  void answer_whole(HttpSession& session);
  void fail_before_start(const Status& error);
  void cancel_job(const std::string& job_id);
  void on_settling_event(Choice& c, const BridgeEvent& event);
  void release_if_settled();
  bool all_accepted() const;
  bool all_ended() const;
  std::string job_ids() const;

  std::weak_ptr<HttpSession> session_;
  GatewayContext& context_;
  GenerationPlan plan_;
  std::vector<Choice> choices_;
  bool started_ = false;   // SSE headers sent
  bool answered_ = false;  // the response (or its stream) ended
  bool gone_ = false;
  bool failed_ = false;  // answered with an error before the head: cancel every job
  // Kept alive after a vanished client or an early failure until every job is known (to
  // cancel it).
  std::shared_ptr<CompletionExchange> self_;
};

}  // namespace rs::gateway
