// The wire-format half of OpenAIBackend, free of I/O so tests can feed it bytes:
// server-sent-event framing, the `usage` object, error bodies, URL roots and
// client-side stop strings. Every function here is exception-free on any input
// (nlohmann's non-throwing parse and checked accessors only). Not thread-safe
// per object; distinct objects may be used from different threads.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sleeptime::openai {

using nlohmann::json;

// A member of a JSON object, or nullptr (also when `j` is no object).
inline const json* Member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
inline int64_t IntOr(const json* j, int64_t fallback) {
  if (j && j->is_number_integer()) return j->get<int64_t>();
  if (j && j->is_number()) return static_cast<int64_t>(j->get<double>());
  return fallback;
}
inline double DoubleOr(const json* j, double fallback) {
  return j && j->is_number() ? j->get<double>() : fallback;
}
inline std::string StringOr(const json* j, std::string fallback = "") {
  return j && j->is_string() ? j->get<std::string>() : fallback;
}

// Splits a byte stream into the payloads of SSE events (the "data:" lines of
// one event, joined by '\n'); chunks may end anywhere, even inside "\r\n".
class SseParser {
 public:
  explicit SseParser(std::function<void(const std::string&)> on_event) : on_event_(std::move(on_event)) {}

  void Feed(std::string_view bytes) {
    buffer_.append(bytes);
    size_t start = 0;
    for (;;) {
      size_t nl = buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      size_t end = nl > start && buffer_[nl - 1] == '\r' ? nl - 1 : nl;
      Line(std::string_view(buffer_).substr(start, end - start));
      start = nl + 1;
    }
    buffer_.erase(0, start);
  }
  // End of stream: an event without its closing blank line still counts.
  void Finish() {
    if (!buffer_.empty()) Line(buffer_);
    buffer_.clear();
    Line("");
  }

 private:
  void Line(std::string_view line) {
    if (line.empty()) {
      if (has_data_) on_event_(data_);
      data_.clear();
      has_data_ = false;
      return;
    }
    if (line.front() == ':') return;           // comment (keep-alive pings)
    if (line.substr(0, 5) != "data:") return;  // event:, id:, retry: carry nothing we use
    line.remove_prefix(5);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (has_data_) data_ += '\n';
    data_.append(line);
    has_data_ = true;
  }

  std::function<void(const std::string&)> on_event_;
  std::string buffer_;
  std::string data_;
  bool has_data_ = false;
};

struct Usage {
  bool present = false;  // the response had a usage object
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt_tokens_details.cached_tokens
  bool has_cached_tokens = false;
  int64_t reasoning_tokens = 0;  // completion_tokens_details.reasoning_tokens (part of completion_tokens)
};

inline Usage ParseUsage(const json& response) {
  Usage u;
  const json* usage = Member(response, "usage");
  if (!usage || !usage->is_object()) return u;
  u.present = true;
  u.prompt_tokens = IntOr(Member(*usage, "prompt_tokens"), 0);
  u.completion_tokens = IntOr(Member(*usage, "completion_tokens"), 0);
  if (const json* d = Member(*usage, "prompt_tokens_details")) {
    const json* cached = Member(*d, "cached_tokens");
    u.has_cached_tokens = cached && cached->is_number();
    u.cached_tokens = IntOr(cached, 0);
  }
  if (const json* d = Member(*usage, "completion_tokens_details"))
    u.reasoning_tokens = IntOr(Member(*d, "reasoning_tokens"), 0);
  return u;
}

// The human part of an error response: OpenAI's {"error": {"message": ...}},
// {"error": "..."}, {"message": ...}, or the start of the raw body.
inline std::string ErrorMessage(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (const json* e = Member(j, "error")) {
    if (e->is_string()) return e->get<std::string>();
    std::string m = StringOr(Member(*e, "message"));
    if (!m.empty()) return m;
  }
  std::string m = StringOr(Member(j, "message"));
  if (!m.empty()) return m;
  std::string raw(body.substr(0, 300));
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r' || raw.back() == ' ')) raw.pop_back();
  return raw.empty() ? "(empty body)" : raw;
}

struct Roots {
  std::string server;  // llama-server's own endpoints: /tokenize, /props
  std::string api;     // OpenAI endpoints: <api>/completions
};

inline Roots SplitBaseUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0)
    return {url.substr(0, url.size() - 3), url};
  return {url, url + "/v1"};
}

// Where the earliest stop string starts in `text`, looking only at matches
// that end after `new_from` (earlier text was checked already); npos if none.
inline size_t FindStop(const std::string& text, size_t new_from, const std::vector<std::string>& stops,
                       size_t* which) {
  size_t best = std::string::npos;
  for (size_t i = 0; i < stops.size(); ++i) {
    const std::string& s = stops[i];
    if (s.empty()) continue;
    size_t from = new_from >= s.size() ? new_from - s.size() + 1 : 0;
    size_t pos = text.find(s, from);
    if (pos != std::string::npos && pos < best) {
      best = pos;
      *which = i;
    }
  }
  return best;
}

}  // namespace sleeptime::openai
