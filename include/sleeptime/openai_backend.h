// OpenAIBackend: the Backend implementation on any OpenAI-compatible HTTP
// server (llama.cpp's llama-server, vLLM, SGLang, Ollama, hosted APIs), over
// libcurl.
//
// The server owns the model and its KV cache, so "saving a prefix" means
// sending it once so that the server's own prompt cache holds it (llama-server,
// vLLM and SGLang reuse a cached prompt prefix; the reuse shows up as
// usage.cached_tokens). A prompt (prefix, suffix) goes to /v1/completions as the
// text prefix + suffix, or, with use_completions_endpoint false, to
// /v1/chat/completions as a system message (the prefix) and a user message (the
// suffix). The server tokenizes that text itself, so at the prefix/suffix
// boundary its tokens may differ from tokens(prefix) ++ tokens(suffix).
//
// Tokenization uses llama-server's /tokenize and /detokenize when the server
// has them (vLLM's endpoints of the same names work too); otherwise Tokenize
// fails with FailedPrecondition and CountTokens estimates one token per four
// bytes (rounded up). NextTokenLogits is not available through these APIs.
//
// Failed requests are retried with exponential backoff on HTTP 429 and 5xx and
// on transport errors (refused connection, timeout); other HTTP errors return at
// once with the server's own error message. Every error message names the URL
// and, where there was one, the HTTP status.
//
// Thread-safe: every call uses its own connection, so calls run concurrently up
// to whatever the server allows.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "sleeptime/backend.h"

namespace sleeptime {

struct OpenAIBackendOptions {
  // Server root ("http://127.0.0.1:8080") or API root ending in "/v1"
  // ("https://api.openai.com/v1"): either way the OpenAI endpoints are
  // <root>/v1/... and llama-server's extras (/tokenize, /props) <root>/....
  std::string base_url;
  // Sent as "Authorization: Bearer <key>". Empty: $OPENAI_API_KEY, if set.
  std::string api_key;
  // The "model" field of every request; llama-server ignores it, hosted APIs
  // require it. Empty: the field is left out.
  std::string model;
  // Tokens one prompt plus its generation may use. OpenAI APIs do not report
  // it; 0 asks llama-server (GET /props) on first use and assumes 4096 when
  // that fails.
  int context_window = 0;

  long timeout_ms = 300000;  // whole request, generation included
  long connect_timeout_ms = 10000;
  int max_retries = 3;               // retries after the first attempt
  long retry_backoff_ms = 250;       // first delay; doubles per retry
  long max_retry_backoff_ms = 8000;  // cap, also on a server's Retry-After

  // Our prompts are prefix + suffix text, which /v1/completions takes as is;
  // false sends chat messages instead (for servers or models without it).
  bool use_completions_endpoint = true;
  // Chat requests carry max_completion_tokens; they also carry the older
  // max_tokens (which llama-server and older servers read) unless this is
  // false (OpenAI's reasoning models reject it).
  bool send_max_tokens_in_chat = true;
  // Passed through when set ("low", "medium", "high", "none").
  std::optional<std::string> reasoning_effort;
  // Sends GenerateOptions::seed (some hosted APIs ignore or refuse it).
  bool send_seed = true;
  // Requests this many top log-probabilities per token when set; Generation
  // has no field for them, so this only serves servers that log or bill them.
  std::optional<int> logprobs;
  // A JSON object merged into every generation request body (server-specific
  // parameters such as vLLM's "top_k"); must parse as an object.
  std::string extra_body_json;
  // Requests one fan-out (k sleep candidates) may have in flight at once;
  // match the server's parallel slots (llama-server -np).
  int max_parallel = 4;
};

class OpenAIBackend : public Backend {
 public:
  // Checks the options (no request is sent). InvalidArgument when base_url is
  // empty or not http(s), or extra_body_json is not a JSON object.
  static Result<std::unique_ptr<OpenAIBackend>> Create(const OpenAIBackendOptions& options);
  ~OpenAIBackend() override;

  // "openai:" + base_url + ":" + model: stable across runs, so learned
  // contexts computed through one server are found again.
  const std::string& ModelFingerprint() const override;
  std::string ModelDescription() const override;
  int ContextWindow() const override;
  int MaxParallel() const override;  // options.max_parallel
  // Always nullopt: the APIs expose no model metadata.
  std::optional<std::string> ModelMetadata(const std::string& key) const override;
  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) const override;
  Result<int64_t> CountTokens(const Prompt& prompt) const override;
  // Empty when the server cannot detokenize.
  std::string Detokenize(const std::vector<Token>& tokens) const override;
  // With the chat endpoint the server applies the model's template, so this
  // only splits the messages into what Generate sends back as messages: a
  // leading system message is the prefix and the last message's content the
  // suffix; any other earlier messages are added to the prefix as
  // "role: content" lines. NotFound with the completions endpoint.
  Result<Prompt> RenderChat(const std::vector<ChatMessage>& messages) const override;
  // True with the chat endpoint: the server owns the template.
  bool HasChatTemplate() const override;
  // Streams (SSE) when options has on_text, on_token or should_continue, so
  // that text, progress and cancellation happen as tokens arrive. Finishes
  // with kStop for the server's "stop" (which also covers its end-of-text
  // token; stop_matched is set when this client saw the stop string itself,
  // the server named it (vLLM's "stop_reason", SGLang's "matched_stop") or
  // only one was sent; llama-server does not say, so it stays empty then),
  // kLength for "length", kEndOfText for any other reason (content_filter,
  // ...), kCancelled when should_continue said no.
  // prefix_source is kResident when the server reported cached prompt tokens,
  // else kPrefilled (kNone without a prefix).
  Result<Generation> Generate(const Prompt& prompt, const GenerateOptions& options) override;
  // Sends the prefix once with max_tokens 1 so that the server's prompt cache
  // holds it; state_bytes is 0 (the state lives on the server) and
  // already_saved false (the server does not say).
  Result<PrefixStateInfo> SavePrefix(std::string_view prefix) override;
  // FailedPrecondition: OpenAI-compatible APIs do not return logits.
  Result<Logits> NextTokenLogits(const Prompt& prompt, bool reuse_prefix) override;

  struct Impl;

 private:
  explicit OpenAIBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sleeptime
