// Parsing and validation of an OpenAI chat-completions request body, kept
// apart from the HTTP server so it can be fuzzed on its own: every input
// either yields a ChatRequest or an ApiError, never a crash or an exception.
// Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sleeptime/backend.h"

namespace sleeptime::server {

// An error as the OpenAI API reports it: HTTP status plus
// {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, if any
  std::string code;
};
std::string ErrorBody(const ApiError& e);

struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  std::optional<int> max_tokens;  // max_completion_tokens or max_tokens
  float temperature = 0.0f;       // 0: greedy
  std::optional<uint32_t> seed;
  std::vector<std::string> stop;
  // The "sleeptime" extension object (ignored by other servers).
  std::string context_id;     // explicit context
  std::optional<int> budget;  // test-time token budget
  int verbosity = 0;          // 0..4
  bool use_learned = true;    // false: answer from the raw context (baseline)
};

inline constexpr size_t kMaxMessages = 1024;
inline constexpr int kMaxTokensLimit = 1 << 20;

std::variant<ChatRequest, ApiError> ParseChatRequest(std::string_view body);

}  // namespace sleeptime::server
