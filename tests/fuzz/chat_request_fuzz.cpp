// libFuzzer target for the chat-completions request parser
// (src/server/chat_request.h): every input must yield a ChatRequest or an
// ApiError, never a crash, a sanitizer report or an escaping exception. The
// result is also checked against the parser's documented limits, and an
// error is rendered with ErrorBody (which must stay valid JSON for any input).
//
// Built and run by tests/CMakeLists.txt when clang++ with libFuzzer is found
// (ctest -R chat_request_fuzz); by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/fuzz/chat_request_fuzz.cpp src/server/chat_request.cpp -o chat_request_fuzz
//   ./chat_request_fuzz -max_total_time=60 corpus-copy/ tests/fuzz/corpus/
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "server/chat_request.h"

namespace {

using sleeptime::server::ApiError;
using sleeptime::server::ChatRequest;

void Require(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input as a crash
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = sleeptime::server::ParseChatRequest(body);
  if (const auto* e = std::get_if<ApiError>(&parsed)) {
    Require(e->http_status >= 400 && e->http_status < 600);
    Require(!e->message.empty());
    const auto j = nlohmann::json::parse(sleeptime::server::ErrorBody(*e), nullptr, false);
    Require(!j.is_discarded() && j.contains("error") && j["error"].contains("message"));
    return 0;
  }
  const auto& r = std::get<ChatRequest>(parsed);
  Require(!r.messages.empty() && r.messages.size() <= sleeptime::server::kMaxMessages);
  for (const auto& m : r.messages)
    Require(m.role == "system" || m.role == "user" || m.role == "assistant" || m.role == "tool");
  Require(!r.max_tokens || (*r.max_tokens >= 1 && *r.max_tokens <= sleeptime::server::kMaxTokensLimit));
  Require(!r.budget || (*r.budget >= 0 && *r.budget <= sleeptime::server::kMaxTokensLimit));
  Require(r.verbosity >= 0 && r.verbosity <= 4);
  Require(r.temperature >= 0.0f && r.temperature <= 2.0f);
  Require(r.stop.size() <= 4);
  return 0;
}
