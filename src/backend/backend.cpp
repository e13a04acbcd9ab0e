#include "sleeptime/backend.h"

namespace sleeptime {

namespace {
thread_local YieldScope* g_yield_scope = nullptr;
}  // namespace

YieldScope::YieldScope(std::function<void()> yield) : yield_(std::move(yield)), outer_(g_yield_scope) {
  g_yield_scope = this;
}

YieldScope::~YieldScope() {
  g_yield_scope = outer_;
}

void YieldScope::Point() {
  if (g_yield_scope && g_yield_scope->yield_) g_yield_scope->yield_();
}

std::function<void()> YieldScope::Current() {
  return g_yield_scope ? g_yield_scope->yield_ : std::function<void()>();
}

const char* FinishReasonName(FinishReason f) {
  switch (f) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEndOfText:
      return "end_of_text";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

Result<Generation> Backend::GenerateChat(const std::vector<ChatMessage>& messages,
                                         const GenerateOptions& options) {
  if (messages.empty()) return Status::InvalidArgument("no messages");
  Prompt prompt;
  if (HasChatTemplate()) {
    ST_ASSIGN_OR_RETURN(prompt, RenderChat(messages));
  } else {
    // Same split as a chat template: all but the last message is the prefix.
    for (size_t i = 0; i + 1 < messages.size(); ++i) {
      prompt.prefix += messages[i].role + ": " + messages[i].content + "\n";
    }
    prompt.suffix = messages.back().role + ": " + messages.back().content + "\nassistant:";
  }
  return Generate(prompt, options);
}

Result<Backend::Score> Backend::ScoreContinuation(const Prompt&, std::string_view) {
  return Status::FailedPrecondition(ModelDescription() + " cannot score tokens");
}

}  // namespace sleeptime
