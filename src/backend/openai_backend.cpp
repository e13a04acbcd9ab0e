#include "sleeptime/openai_backend.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "backend/openai_protocol.h"
#include "backend/streamed_text.h"
#include "sleeptime/hash.h"

namespace sleeptime {

namespace {

using openai::json;
using openai::Member;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// OpenAI accepts at most four stop strings; the rest are enforced here.
constexpr size_t kMaxServerStops = 4;
// A server that ignores "stream" answers with one JSON body; this much of it is
// kept to parse it anyway.
constexpr size_t kMaxUnstreamedBody = 16u << 20;

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return rc;
}

struct HttpCall {
  const char* method = "POST";
  std::string url;
  std::string body;
  bool stream = false;
  long timeout_ms = 0;
  int max_retries = 0;
  // Bytes of a 2xx body as they arrive; false ends the transfer (not an error).
  std::function<bool(std::string_view)> on_body;
  // Polled while the transfer waits; false cancels it.
  std::function<bool()> keep_going;
};

struct HttpResult {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  long code = 0;
  std::string body;  // everything not given to on_body
  long retry_after_s = 0;
  int attempts = 0;
  bool delivered = false;      // on_body saw bytes: a retry would deliver them twice
  bool stopped = false;        // on_body ended the transfer
  bool cancelled = false;      // keep_going said no
  std::string callback_error;  // a callback threw
};

struct Transfer {
  const HttpCall* call;
  HttpResult* result;
  CURL* curl;
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->call->on_body) {
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) {
      t->result->delivered = true;
      try {
        if (!t->call->on_body(std::string_view(data, len))) {
          t->result->stopped = true;
          return 0;
        }
      } catch (const std::exception& e) {
        t->result->callback_error = e.what();
        return 0;
      } catch (...) {
        t->result->callback_error = "unknown exception";
        return 0;
      }
      return len;
    }
  }
  t->result->body.append(data, len);
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  try {
    if (t->call->keep_going()) return 0;
    t->result->cancelled = true;
  } catch (const std::exception& e) {
    t->result->callback_error = e.what();
  } catch (...) {
    t->result->callback_error = "unknown exception";
  }
  return 1;
}

bool Retryable(const HttpResult& r) {
  if (r.curl == CURLE_OK) return r.code == 429 || r.code >= 500;
  switch (r.curl) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

Status ErrorFor(const HttpCall& c, const HttpResult& r) {
  std::string where = std::string(c.method) + " " + c.url;
  std::string tries = r.attempts > 1 ? " (" + std::to_string(r.attempts) + " attempts)" : "";
  if (!r.callback_error.empty()) return Status::Internal(where + ": a callback failed: " + r.callback_error);
  if (r.curl != CURLE_OK) {
    std::string m = r.curl_error.empty() ? curl_easy_strerror(r.curl) : r.curl_error;
    return Status::Unavailable(where + ": " + m + tries);
  }
  std::string m = where + ": HTTP " + std::to_string(r.code) + ": " + openai::ErrorMessage(r.body) + tries;
  if (r.code == 404) return Status::NotFound(m);
  if (r.code == 401 || r.code == 403) return Status::FailedPrecondition(m);
  if (r.code == 413) return Status::OutOfRange(m);
  if (r.code == 429 || r.code >= 500) return Status::Unavailable(m);
  if (r.code >= 400) return Status::InvalidArgument(m);
  return Status::Internal(m);  // 1xx/3xx: redirects are not followed
}

}  // namespace

struct OpenAIBackend::Impl {
  enum Support { kUnknown, kYes, kNo };

  OpenAIBackendOptions options;
  openai::Roots roots;
  std::string fingerprint;
  std::string auth_header;
  json extra_body;

  mutable std::once_flag window_once;
  mutable int window = 0;
  mutable std::atomic<int> tokenize_support{kUnknown};

  void PerformOnce(const HttpCall& call, HttpResult* r) const {
    CURL* curl = curl_easy_init();
    if (!curl) {
      r->curl = CURLE_FAILED_INIT;
      r->curl_error = "curl_easy_init failed";
      return;
    }
    char errbuf[CURL_ERROR_SIZE] = {0};
    Transfer t{&call, r, curl};
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers =
        curl_slist_append(headers, call.stream ? "Accept: text/event-stream" : "Accept: application/json");
    if (!auth_header.empty()) headers = curl_slist_append(headers, auth_header.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // signals and threads do not mix
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, call.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sleeptime/" SLEEPTIME_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    if (call.keep_going) {
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    }
    if (std::string_view(call.method) == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
    }
    r->curl = curl_easy_perform(curl);
    r->curl_error = errbuf;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->code);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK)
      r->retry_after_s = static_cast<long>(retry_after);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
  }

  // The call with retries. A result with curl != OK or a non-2xx code is an
  // error unless cancelled or stopped is set.
  HttpResult Perform(const HttpCall& call) const {
    HttpResult r;
    for (int attempt = 0;; ++attempt) {
      r = HttpResult{};
      PerformOnce(call, &r);
      r.attempts = attempt + 1;
      if (r.cancelled || r.stopped || r.delivered || !r.callback_error.empty()) return r;
      if (!Retryable(r) || attempt >= call.max_retries) return r;
      long delay = options.retry_backoff_ms << std::min(attempt, 20);
      if (r.retry_after_s > 0) delay = std::max(delay, r.retry_after_s * 1000);
      delay = std::min(delay, options.max_retry_backoff_ms);
      // Sleep in slices so that a cancellation is not held up by the backoff.
      auto until = Clock::now() + std::chrono::milliseconds(delay);
      while (Clock::now() < until) {
        if (call.keep_going) {
          bool go = false;
          try {
            go = call.keep_going();
          } catch (...) {
          }
          if (!go) {
            r.cancelled = true;
            return r;
          }
        }
        std::this_thread::sleep_for(
            std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
      }
    }
  }

  // A short JSON request to the server's own endpoints (tokenize, props).
  Result<json> SmallRequest(const char* method, const std::string& path, const json* body,
                            int* http_code) const {
    HttpCall call;
    call.method = method;
    call.url = roots.server + path;
    if (body) call.body = Dump(*body);
    call.timeout_ms = std::min<long>(options.timeout_ms, 60000);
    call.max_retries = options.max_retries;
    HttpResult r = Perform(call);
    if (http_code) *http_code = r.curl == CURLE_OK ? static_cast<int>(r.code) : 0;
    if (r.curl != CURLE_OK || r.code < 200 || r.code >= 300) return ErrorFor(call, r);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded())
      return Status::Internal(call.url + ": the response is not JSON: " + r.body.substr(0, 200));
    return j;
  }

  int ContextWindow() const {
    std::call_once(window_once, [this] {
      window = options.context_window;
      if (window > 0) return;
      window = 4096;
      auto props = SmallRequest("GET", "/props", nullptr, nullptr);
      if (!props.ok()) return;
      int64_t n = openai::IntOr(Member(*props, "n_ctx"), 0);
      if (const json* s = Member(*props, "default_generation_settings"))
        n = openai::IntOr(Member(*s, "n_ctx"), n);
      if (n > 0) window = static_cast<int>(n);
    });
    return window;
  }

  Status TokenizeUnsupported() const {
    return Status::FailedPrecondition("the server at " + roots.server +
                                      " has no usable /tokenize endpoint (llama-server and vLLM have one)");
  }

  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) const {
    if (tokenize_support.load() == kNo) return TokenizeUnsupported();
    // llama-server reads content/add_special, vLLM prompt/add_special_tokens;
    // each ignores the other's fields.
    json body = {
        {"content", text}, {"add_special", add_bos}, {"prompt", text}, {"add_special_tokens", add_bos}};
    if (!options.model.empty()) body["model"] = options.model;
    int code = 0;
    auto r = SmallRequest("POST", "/tokenize", &body, &code);
    if (!r.ok()) {
      // A 4xx means the endpoint is missing or speaks another schema: it will
      // not start working, so stop asking.
      if (code >= 400 && code < 500 && code != 408 && code != 429) {
        tokenize_support.store(kNo);
        return Status::FailedPrecondition(TokenizeUnsupported().message() + " (" + r.status().message() +
                                          ")");
      }
      return r.status();
    }
    const json* tokens = Member(*r, "tokens");
    if (!tokens || !tokens->is_array())
      return Status::Internal(roots.server + "/tokenize: no \"tokens\" array");
    std::vector<Token> out;
    out.reserve(tokens->size());
    for (const json& t : *tokens) {
      // with_pieces-style objects {"id": ..., "piece": ...} are accepted too
      const json* id = t.is_object() ? Member(t, "id") : &t;
      if (!id || !id->is_number_integer())
        return Status::Internal(roots.server + "/tokenize: a token is not an id");
      out.push_back(id->get<Token>());
    }
    tokenize_support.store(kYes);
    return out;
  }

  Result<int64_t> CountTokens(const Prompt& prompt) const {
    if (tokenize_support.load() != kNo) {
      int64_t n = 0;
      Status st;
      if (!prompt.prefix.empty()) {
        auto p = Tokenize(prompt.prefix, true);
        if (p.ok()) n += static_cast<int64_t>(p->size());
        st = p.status();
      }
      if (st.ok()) {
        auto s = Tokenize(prompt.suffix, prompt.prefix.empty());
        if (s.ok()) n += static_cast<int64_t>(s->size());
        st = s.status();
      }
      if (st.ok()) return n;
      if (tokenize_support.load() != kNo) return st;
    }
    // Estimate: English text runs ~4 bytes per token with BPE vocabularies.
    return static_cast<int64_t>((prompt.prefix.size() + prompt.suffix.size() + 3) / 4);
  }

  std::string Detokenize(const std::vector<Token>& tokens) const {
    if (tokenize_support.load() == kNo) return "";
    json body = {{"tokens", tokens}};
    if (!options.model.empty()) body["model"] = options.model;
    auto r = SmallRequest("POST", "/detokenize", &body, nullptr);
    if (!r.ok()) return "";
    // llama-server answers "content", vLLM "prompt".
    if (const json* c = Member(*r, "content"); c && c->is_string()) return c->get<std::string>();
    return openai::StringOr(Member(*r, "prompt"));
  }

  // The stop strings sent upstream: the first kMaxServerStops non-empty ones.
  static std::vector<std::string> ServerStops(const GenerateOptions& o) {
    std::vector<std::string> stops;
    for (const auto& s : o.stop)
      if (!s.empty() && stops.size() < kMaxServerStops) stops.push_back(s);
    return stops;
  }

  json RequestBody(const Prompt& prompt, const GenerateOptions& o, bool stream) const {
    json body = json::object();
    if (!options.model.empty()) body["model"] = options.model;
    if (options.use_completions_endpoint) {
      body["prompt"] = prompt.prefix + prompt.suffix;
      body["max_tokens"] = o.max_tokens;
    } else {
      json messages = json::array();
      if (!prompt.prefix.empty()) messages.push_back({{"role", "system"}, {"content", prompt.prefix}});
      messages.push_back({{"role", "user"}, {"content", prompt.suffix}});
      body["messages"] = std::move(messages);
      body["max_completion_tokens"] = o.max_tokens;
      if (options.send_max_tokens_in_chat) body["max_tokens"] = o.max_tokens;
    }
    body["temperature"] = o.temperature;
    if (options.send_seed) body["seed"] = o.seed;
    if (auto stop = ServerStops(o); !stop.empty()) body["stop"] = std::move(stop);
    body["stream"] = stream;
    if (stream) body["stream_options"] = {{"include_usage", true}};
    if (options.reasoning_effort) body["reasoning_effort"] = *options.reasoning_effort;
    if (options.logprobs) {
      if (options.use_completions_endpoint) {
        body["logprobs"] = *options.logprobs;
      } else {
        body["logprobs"] = true;
        body["top_logprobs"] = *options.logprobs;
      }
    }
    if (extra_body.is_object()) body.update(extra_body);
    return body;
  }

  // What a response (whole, or one streamed chunk) says.
  struct Piece {
    bool has_text = false;
    std::string text;
    std::string finish_reason;
    std::string matched_stop;  // the stop string, where the server names it
  };
  Piece ReadChoice(const json& response, bool streamed) const {
    Piece p;
    const json* choices = Member(response, "choices");
    if (!choices || !choices->is_array() || choices->empty()) return p;
    const json& c = (*choices)[0];
    const json* text = nullptr;
    if (options.use_completions_endpoint) {
      text = Member(c, "text");
    } else if (const json* m = Member(c, streamed ? "delta" : "message")) {
      text = Member(*m, "content");
    }
    p.has_text = text && text->is_string();
    if (p.has_text) p.text = text->get<std::string>();
    p.finish_reason = openai::StringOr(Member(c, "finish_reason"));
    // vLLM names the stop string in "stop_reason", SGLang in "matched_stop"
    // (both also use numbers, for stop tokens).
    for (const char* key : {"stop_reason", "matched_stop"})
      if (p.matched_stop.empty()) p.matched_stop = openai::StringOr(Member(c, key));
    return p;
  }

  Result<Generation> Generate(const Prompt& prompt, const GenerateOptions& o) const {
    const auto t0 = Clock::now();
    Generation g;
    g.prefix_source = prompt.prefix.empty() ? PrefixSource::kNone : PrefixSource::kPrefilled;
    auto estimate_prompt = [&] {
      auto n = CountTokens(prompt);
      g.usage.prompt_tokens = n.ok() ? *n : 0;
    };
    if (o.max_tokens <= 0 || (o.should_continue && !o.should_continue())) {
      g.finish = o.max_tokens <= 0 ? FinishReason::kLength : FinishReason::kCancelled;
      estimate_prompt();
      g.timings.total_ms = g.timings.ttft_ms = MsSince(t0);
      return g;
    }
    const bool stream = o.on_text || o.on_token || o.should_continue;

    HttpCall call;
    call.url = roots.api + (options.use_completions_endpoint ? "/completions" : "/chat/completions");
    call.body = Dump(RequestBody(prompt, o, stream));
    call.stream = stream;
    call.timeout_ms = options.timeout_ms;
    call.max_retries = options.max_retries;
    call.keep_going = o.should_continue;

    // Streamed state. The server applies up to four stop strings itself; this
    // client applies them all, which also covers servers that ignore "stop".
    std::string text;
    StreamedText streamed(o.on_text, o.stop);
    int chunks = 0;
    int events = 0;
    std::string finish_reason;
    std::string matched_stop;
    openai::Usage usage;
    json timings;
    bool stop_hit = false;
    bool cancelled = false;
    std::string raw;  // the body while no event came (a server that ignored "stream")
    std::string stream_error;
    double ttft_ms = -1;

    auto add_text = [&](const std::string& piece) {
      if (stop_hit) return;
      if (ttft_ms < 0 && !piece.empty()) ttft_ms = MsSince(t0);
      size_t old = text.size();
      text += piece;
      size_t which = 0;
      size_t pos = openai::FindStop(text, old, o.stop, &which);
      if (pos != std::string::npos) {
        text.resize(pos);
        g.stop_matched = o.stop[which];
        stop_hit = true;
      }
      streamed.Update(text);
    };
    auto read_meta = [&](const json& j) {
      openai::Usage u = openai::ParseUsage(j);
      if (u.present) usage = u;
      if (const json* t = Member(j, "timings"); t && t->is_object()) timings = *t;
    };
    openai::SseParser sse([&](const std::string& data) {
      ++events;
      if (data == "[DONE]" || cancelled || stop_hit) return;
      json j = json::parse(data, nullptr, false);
      if (j.is_discarded()) return;
      if (Member(j, "error")) {
        stream_error = openai::ErrorMessage(data);
        return;
      }
      read_meta(j);
      Piece p = ReadChoice(j, true);
      if (p.has_text) {
        ++chunks;
        add_text(p.text);
        if (o.on_token) o.on_token(chunks);
        // Checked per token, like the in-process backend's decode steps, so
        // that chunks arriving together are not all taken.
        if (o.should_continue && !o.should_continue()) cancelled = true;
      }
      if (!p.finish_reason.empty()) finish_reason = p.finish_reason;
      if (!p.matched_stop.empty()) matched_stop = p.matched_stop;
    });
    if (stream) {
      call.on_body = [&](std::string_view bytes) {
        if (events == 0 && raw.size() < kMaxUnstreamedBody) raw.append(bytes);
        sse.Feed(bytes);
        return !(stop_hit || cancelled || !stream_error.empty());
      };
    }

    HttpResult r = Perform(call);
    cancelled = cancelled || r.cancelled;
    if (!r.callback_error.empty()) return ErrorFor(call, r);
    if (!stream_error.empty()) {
      return Status::Internal("POST " + call.url +
                              ": the server reported an error mid-stream: " + stream_error);
    }
    if (!cancelled && !r.stopped) {
      if (r.curl != CURLE_OK || r.code < 200 || r.code >= 300) return ErrorFor(call, r);
    }

    if (stream) {
      sse.Finish();
      if (events == 0 && !raw.empty() && !cancelled) {
        // The server ignored "stream": read the whole body as one response.
        json j = json::parse(raw, nullptr, false);
        if (j.is_discarded())
          return Status::Internal("POST " + call.url + ": neither SSE nor JSON: " + raw.substr(0, 200));
        read_meta(j);
        Piece p = ReadChoice(j, false);
        add_text(p.text);
        if (p.has_text && o.on_token) o.on_token(1);
        finish_reason = p.finish_reason;
        matched_stop = p.matched_stop;
      }
    } else {
      json j = json::parse(r.body, nullptr, false);
      if (j.is_discarded()) {
        return Status::Internal("POST " + call.url + ": HTTP " + std::to_string(r.code) +
                                " but the body is not JSON: " + r.body.substr(0, 200));
      }
      if (Member(j, "error"))
        return Status::Internal("POST " + call.url + ": " + openai::ErrorMessage(r.body));
      read_meta(j);
      Piece p = ReadChoice(j, false);
      add_text(p.text);
      finish_reason = p.finish_reason;
      matched_stop = p.matched_stop;
    }
    streamed.Finish(text);
    g.text = std::move(text);

    if (cancelled) {
      g.finish = FinishReason::kCancelled;
    } else if (stop_hit || finish_reason == "stop") {
      g.finish = FinishReason::kStop;
      // The server cut the stop string off: name it where that is certain.
      const std::vector<std::string> sent = ServerStops(o);
      if (!stop_hit && std::find(sent.begin(), sent.end(), matched_stop) != sent.end()) {
        g.stop_matched = matched_stop;
      } else if (!stop_hit && sent.size() == 1) {
        g.stop_matched = sent[0];
      }
    } else if (finish_reason == "length" || finish_reason.empty()) {
      g.finish = FinishReason::kLength;
    } else {
      // content_filter, tool_calls, ...: the server ended it, no stop string did
      // (kStop without a name would read as a stop the server did not name).
      g.finish = FinishReason::kEndOfText;
    }

    if (usage.present) {
      g.usage.prompt_tokens = usage.prompt_tokens;
      g.usage.completion_tokens = usage.completion_tokens;
      g.usage.cached_tokens = usage.cached_tokens;
      g.usage.reasoning_tokens = usage.reasoning_tokens;
    } else {
      // Cut short before the final chunk: one streamed chunk per token.
      estimate_prompt();
      g.usage.completion_tokens = chunks;
    }
    if (!prompt.prefix.empty() && g.usage.cached_tokens > 0) g.prefix_source = PrefixSource::kResident;
    g.timings.total_ms = MsSince(t0);
    g.timings.ttft_ms = ttft_ms >= 0 ? ttft_ms : g.timings.total_ms;
    // llama-server's own timings, where present.
    g.timings.prefill_ms = openai::DoubleOr(Member(timings, "prompt_ms"), 0);
    g.timings.generate_ms = openai::DoubleOr(Member(timings, "predicted_ms"), 0);
    return g;
  }
};

OpenAIBackend::OpenAIBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpenAIBackend::~OpenAIBackend() = default;

Result<std::unique_ptr<OpenAIBackend>> OpenAIBackend::Create(const OpenAIBackendOptions& options) {
  const std::string& url = options.base_url;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("OpenAI backend: base URL must start with http:// or https://, got '" +
                                   url + "'");
  }
  if (options.max_retries < 0 || options.timeout_ms <= 0 || options.connect_timeout_ms <= 0 ||
      options.retry_backoff_ms < 0) {
    return Status::InvalidArgument("OpenAI backend: timeouts must be positive and retries non-negative");
  }
  if (CURLcode rc = GlobalInit(); rc != CURLE_OK)
    return Status::Internal(std::string("curl_global_init failed: ") + curl_easy_strerror(rc));

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->roots = openai::SplitBaseUrl(url);
  impl->fingerprint = "openai:" + url + ":" + options.model;
  std::string key = options.api_key;
  if (key.empty()) {
    if (const char* env = std::getenv("OPENAI_API_KEY")) key = env;
  }
  if (!key.empty()) impl->auth_header = "Authorization: Bearer " + key;
  if (!options.extra_body_json.empty()) {
    impl->extra_body = json::parse(options.extra_body_json, nullptr, false);
    if (!impl->extra_body.is_object())
      return Status::InvalidArgument("OpenAI backend: extra body is not a JSON object: " +
                                     options.extra_body_json);
  }
  return std::unique_ptr<OpenAIBackend>(new OpenAIBackend(std::move(impl)));
}

const std::string& OpenAIBackend::ModelFingerprint() const {
  return impl_->fingerprint;
}

std::string OpenAIBackend::ModelDescription() const {
  const auto& o = impl_->options;
  return (o.model.empty() ? std::string("served") : "'" + o.model + "'") + " at " + o.base_url +
         (o.use_completions_endpoint ? " (completions)" : " (chat completions)");
}

int OpenAIBackend::ContextWindow() const {
  return impl_->ContextWindow();
}

int OpenAIBackend::MaxParallel() const {
  return std::max(1, impl_->options.max_parallel);
}

std::optional<std::string> OpenAIBackend::ModelMetadata(const std::string&) const {
  return std::nullopt;
}

Result<std::vector<Token>> OpenAIBackend::Tokenize(std::string_view text, bool add_bos) const {
  return impl_->Tokenize(text, add_bos);
}

Result<int64_t> OpenAIBackend::CountTokens(const Prompt& prompt) const {
  return impl_->CountTokens(prompt);
}

std::string OpenAIBackend::Detokenize(const std::vector<Token>& tokens) const {
  return impl_->Detokenize(tokens);
}

Result<Prompt> OpenAIBackend::RenderChat(const std::vector<ChatMessage>& messages) const {
  if (impl_->options.use_completions_endpoint) {
    return Status::NotFound("the OpenAI backend uses /v1/completions, which applies no chat template");
  }
  if (messages.empty()) return Status::InvalidArgument("no messages");
  Prompt p;
  size_t first = 0;
  if (messages.size() > 1 && messages[0].role == "system") {
    p.prefix = messages[0].content;
    first = 1;
  }
  for (size_t i = first; i + 1 < messages.size(); ++i) {
    if (!p.prefix.empty()) p.prefix += "\n";
    p.prefix += messages[i].role + ": " + messages[i].content;
  }
  p.suffix = messages.back().content;
  return p;
}

bool OpenAIBackend::HasChatTemplate() const {
  return !impl_->options.use_completions_endpoint;
}

Result<Generation> OpenAIBackend::Generate(const Prompt& prompt, const GenerateOptions& options) {
  try {
    return impl_->Generate(prompt, options);
  } catch (const std::exception& e) {
    // on_text/on_token/should_continue belong to the caller; nothing of ours throws.
    return Status::Internal(std::string("OpenAI backend: ") + e.what());
  }
}

Result<PrefixStateInfo> OpenAIBackend::SavePrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::InvalidArgument("empty prefix");
  GenerateOptions o;
  o.max_tokens = 1;  // 0 would suit llama-server, but OpenAI's API refuses it
  ST_ASSIGN_OR_RETURN(Generation g, impl_->Generate(Prompt{std::string(prefix), ""}, o));
  PrefixStateInfo info;
  info.key = Sha256Hex(impl_->fingerprint + '\n' + std::string(prefix));
  info.n_tokens = g.usage.prompt_tokens;
  info.prefill_ms = g.timings.prefill_ms > 0 ? g.timings.prefill_ms : g.timings.total_ms;
  return info;
}

Result<Backend::Logits> OpenAIBackend::NextTokenLogits(const Prompt&, bool) {
  return Status::FailedPrecondition("the OpenAI backend (" + impl_->options.base_url +
                                    ") cannot return logits: OpenAI-compatible APIs do not expose them");
}

}  // namespace sleeptime
