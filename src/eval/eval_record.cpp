// items.jsonl lines <-> ItemRecord.
//
// The JSONL file is the eval's ground truth: every figure is recomputed from
// it, and `--resume` reads it back after a crash or Ctrl-C. So the reader is
// strict about what it needs to place a record (condition, k, budget, item,
// query, correctness) and about types, but lenient about everything else:
// telemetry fields may be missing (older or foreign writers) and unknown
// fields are ignored (newer writers). JSON has no NaN, so a non-finite double
// is written as null and read back as NaN ("the backend cannot score tokens").
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "sleeptime/eval.h"

namespace sleeptime::eval {

namespace {

using nlohmann::json;

nlohmann::ordered_json DoubleOrNull(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

// Reads one field into `out`. A missing field keeps the default unless
// `required`; a present field of the wrong type is always an error, because
// silently defaulting a mistyped "correct" would corrupt the accuracy.
class FieldReader {
 public:
  explicit FieldReader(const json& obj) : obj_(obj) {}

  void Str(const char* name, std::string* out, bool required = false) {
    const json* v = Find(name, required);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail(name, "a string", *v);
    *out = v->get<std::string>();
  }

  template <typename Int>
  void Integer(const char* name, Int* out, bool required = false) {
    const json* v = Find(name, required);
    if (v == nullptr) return;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<Int>::max())) return Fail(name, "in range", *v);
      *out = static_cast<Int>(u);
    } else if (v->is_number_integer()) {
      const int64_t i = v->get<int64_t>();
      if (i < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<Int>::max()))
        return Fail(name, "in range", *v);
      *out = static_cast<Int>(i);
    } else {
      return Fail(name, "an integer", *v);
    }
  }

  void Double(const char* name, double* out) {
    const json* v = Find(name, false);
    if (v == nullptr) return;
    if (v->is_null()) {
      *out = std::numeric_limits<double>::quiet_NaN();
    } else if (v->is_number()) {
      *out = v->get<double>();
    } else {
      Fail(name, "a number or null", *v);
    }
  }

  void Bool(const char* name, bool* out, bool required = false) {
    const json* v = Find(name, required);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail(name, "true or false", *v);
    *out = v->get<bool>();
  }

  const std::string& error() const { return error_; }

 private:
  const json* Find(const char* name, bool required) {
    if (!error_.empty()) return nullptr;  // report the first problem only
    auto it = obj_.find(name);
    if (it == obj_.end()) {
      if (required) error_ = std::string("missing field \"") + name + "\"";
      return nullptr;
    }
    return &*it;
  }

  void Fail(const char* name, const char* want, const json& got) {
    std::string shown = got.dump(-1, ' ', false, json::error_handler_t::replace);
    if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
    error_ = std::string("field \"") + name + "\" must be " + want + ", got " + shown;
  }

  const json& obj_;
  std::string error_;
};

}  // namespace

std::string ToJsonLine(const ItemRecord& r) {
  // Insertion order is kept (ordered_json) so lines read well in a pager:
  // the grouping keys first, then the outcome, then telemetry.
  nlohmann::ordered_json j;
  j["condition"] = r.condition;
  j["k"] = r.k;
  j["budget"] = r.budget;
  j["verbosity"] = r.verbosity;
  j["item_id"] = r.item_id;
  j["query_index"] = r.query_index;
  j["kind"] = r.kind;
  j["steps"] = r.steps;
  j["predictability"] = DoubleOrNull(r.predictability);
  j["prompt_tokens"] = r.prompt_tokens;
  j["cached_tokens"] = r.cached_tokens;
  j["completion_tokens"] = r.completion_tokens;
  j["sleep_tokens"] = r.sleep_tokens;
  j["queries_per_context"] = r.queries_per_context;
  j["correct"] = r.correct;
  j["kv_restored"] = r.kv_restored;
  j["anticipated"] = r.anticipated;
  j["latency_ms"] = DoubleOrNull(r.latency_ms);
  j["ttft_ms"] = DoubleOrNull(r.ttft_ms);
  j["answer"] = r.answer;
  // A model can emit invalid UTF-8 (a token boundary inside a code point);
  // replacing it keeps the line valid JSON instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<ItemRecord> FromJsonLine(const std::string& line) {
  if (line.find_first_not_of(" \t\r\n") == std::string::npos)
    return Status::InvalidArgument("malformed eval record: empty line");
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    std::string head = line.substr(0, 60);
    if (line.size() > 60) head += "...";
    return Status::InvalidArgument("malformed eval record: not valid JSON: " + head);
  }
  if (!j.is_object()) return Status::InvalidArgument("malformed eval record: expected a JSON object");

  ItemRecord r;
  FieldReader f(j);
  f.Str("condition", &r.condition, /*required=*/true);
  f.Integer("k", &r.k, true);
  f.Integer("budget", &r.budget, true);
  f.Integer("verbosity", &r.verbosity);
  f.Str("item_id", &r.item_id, true);
  f.Integer("query_index", &r.query_index, true);
  f.Str("kind", &r.kind);
  f.Integer("steps", &r.steps);
  f.Double("predictability", &r.predictability);
  f.Integer("prompt_tokens", &r.prompt_tokens);
  f.Integer("cached_tokens", &r.cached_tokens);
  f.Integer("completion_tokens", &r.completion_tokens);
  f.Integer("sleep_tokens", &r.sleep_tokens);
  f.Integer("queries_per_context", &r.queries_per_context);
  f.Bool("correct", &r.correct, true);
  f.Bool("kv_restored", &r.kv_restored);
  f.Bool("anticipated", &r.anticipated);
  f.Double("latency_ms", &r.latency_ms);
  f.Double("ttft_ms", &r.ttft_ms);
  f.Str("answer", &r.answer);
  if (!f.error().empty()) return Status::InvalidArgument("malformed eval record: " + f.error());
  if (r.condition.empty()) return Status::InvalidArgument("malformed eval record: empty \"condition\"");
  return r;
}

}  // namespace sleeptime::eval
