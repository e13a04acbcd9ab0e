#include "server/chat_request.h"

#include <nlohmann/json.hpp>

namespace sleeptime::server {
namespace {

using nlohmann::json;

ApiError Bad(std::string message, std::string param = "") {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

// OpenAI content: a string, or an array of parts of which the text parts count.
std::optional<std::string> ContentText(const json& c) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_null()) return std::string();
  if (!c.is_array()) return std::nullopt;
  std::string out;
  for (const json& part : c) {
    if (!part.is_object()) return std::nullopt;
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) return std::nullopt;
    if (*type != "text") continue;
    auto text = part.find("text");
    if (text == part.end() || !text->is_string()) return std::nullopt;
    out += text->get<std::string>();
  }
  return out;
}

std::optional<ApiError> ReadInt(const json& body, const char* key, int lo, int hi, std::optional<int>* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return Bad(std::string("'") + key + "' must be an integer", key);
  const auto v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return Bad(
        std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi),
        key);
  }
  *out = static_cast<int>(v);
  return std::nullopt;
}

std::optional<ApiError> ParseSleeptime(const json& ext, ChatRequest* r) {
  if (!ext.is_object()) return Bad("'sleeptime' must be an object", "sleeptime");
  if (auto it = ext.find("context_id"); it != ext.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().empty())
      return Bad("'sleeptime.context_id' must be a non-empty string", "sleeptime.context_id");
    r->context_id = it->get<std::string>();
  }
  if (auto e = ReadInt(ext, "budget", 0, kMaxTokensLimit, &r->budget)) {
    e->param = "sleeptime.budget";
    e->message = "'sleeptime.budget' must be an integer between 0 and " + std::to_string(kMaxTokensLimit);
    return e;
  }
  std::optional<int> verbosity;
  if (auto e = ReadInt(ext, "verbosity", 0, 4, &verbosity)) {
    e->param = "sleeptime.verbosity";
    e->message = "'sleeptime.verbosity' must be an integer between 0 and 4";
    return e;
  }
  if (verbosity) r->verbosity = *verbosity;
  if (auto it = ext.find("use_learned"); it != ext.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("'sleeptime.use_learned' must be a boolean", "sleeptime.use_learned");
    r->use_learned = it->get<bool>();
  }
  return std::nullopt;
}

std::variant<ChatRequest, ApiError> Parse(std::string_view text) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Bad("the request body is not valid JSON");
  if (!body.is_object()) return Bad("the request body must be a JSON object");
  ChatRequest r;

  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return Bad("'model' must be a string", "model");
    r.model = it->get<std::string>();
  }
  auto msgs = body.find("messages");
  if (msgs == body.end()) return Bad("'messages' is required", "messages");
  if (!msgs->is_array()) return Bad("'messages' must be an array", "messages");
  if (msgs->empty()) return Bad("'messages' must not be empty", "messages");
  if (msgs->size() > kMaxMessages)
    return Bad("at most " + std::to_string(kMaxMessages) + " messages are accepted", "messages");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Bad(where + " must be an object", where);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return Bad(where + ".role must be a string", where + ".role");
    const std::string rs = role->get<std::string>();
    if (rs != "system" && rs != "developer" && rs != "user" && rs != "assistant" && rs != "tool")
      return Bad(where + ".role '" + rs + "' is not one of system, developer, user, assistant, tool",
                 where + ".role");
    auto content = m.find("content");
    std::optional<std::string> ctext =
        content == m.end() ? std::optional<std::string>("") : ContentText(*content);
    if (!ctext) return Bad(where + ".content must be a string or an array of text parts", where + ".content");
    r.messages.push_back({rs == "developer" ? "system" : rs, std::move(*ctext)});
  }

  if (auto e = ReadInt(body, "max_tokens", 1, kMaxTokensLimit, &r.max_tokens)) return *e;
  if (auto e = ReadInt(body, "max_completion_tokens", 1, kMaxTokensLimit, &r.max_tokens)) return *e;
  if (auto it = body.find("temperature"); it != body.end() && !it->is_null()) {
    if (!it->is_number()) return Bad("'temperature' must be a number", "temperature");
    const double t = it->get<double>();
    if (!(t >= 0.0 && t <= 2.0)) return Bad("'temperature' must be between 0 and 2", "temperature");
    r.temperature = static_cast<float>(t);
  }
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Bad("'seed' must be an integer", "seed");
    r.seed = static_cast<uint32_t>(it->get<int64_t>());
  }
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      r.stop.push_back(it->get<std::string>());
    } else if (it->is_array() && it->size() <= 4) {
      for (const json& s : *it) {
        if (!s.is_string()) return Bad("'stop' must be a string or an array of up to 4 strings", "stop");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      return Bad("'stop' must be a string or an array of up to 4 strings", "stop");
    }
  }
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("'stream' must be a boolean", "stream");
    r.stream = it->get<bool>();
  }
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("'stream_options' must be an object", "stream_options");
    if (auto u = it->find("include_usage"); u != it->end() && !u->is_null()) {
      if (!u->is_boolean()) return Bad("'stream_options.include_usage' must be a boolean", "stream_options");
      r.include_usage = u->get<bool>();
    }
  }
  if (auto it = body.find("n"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() != 1) return Bad("only 'n': 1 is supported", "n");
  }
  if (auto it = body.find("sleeptime"); it != body.end() && !it->is_null()) {
    if (auto e = ParseSleeptime(*it, &r)) return *e;
  }
  return r;
}

}  // namespace

std::string ErrorBody(const ApiError& e) {
  json err = {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  // Invalid UTF-8 echoed from the input must not make dump() throw.
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::variant<ChatRequest, ApiError> ParseChatRequest(std::string_view body) {
  try {
    return Parse(body);
  } catch (const std::exception& e) {  // e.g. a type error nlohmann reports by exception
    return Bad(std::string("malformed request: ") + e.what());
  }
}

}  // namespace sleeptime::server
