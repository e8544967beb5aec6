// Placeholder until the renderer lands: every template is refused at parse.
#include "rs/engine/chat_template.h"

namespace rs::engine {

struct ChatTemplate::Impl {
  std::string source, bos, eos;
};

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::parse(std::string_view, std::string, std::string) {
  return Status(StatusCode::kUnsupported, "chat templates are not supported yet");
}
ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;
Result<std::string> ChatTemplate::render(const ChatInput&) const {
  return Status(StatusCode::kUnsupported, "chat templates are not supported yet");
}
const std::string& ChatTemplate::source() const { return impl_->source; }
const std::string& ChatTemplate::bos_token() const { return impl_->bos; }
const std::string& ChatTemplate::eos_token() const { return impl_->eos; }

}  // namespace rs::engine
