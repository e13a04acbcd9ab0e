#include "sleeptime/backend.h"

namespace sleeptime {

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

}  // namespace sleeptime
