// StreamedText: turns a growing generated text into GenerateOptions::on_text
// pieces, holding back any tail that could still become a stop string (which
// is cut from the final text and so must never have been streamed).
// Not thread-safe; one per generation.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sleeptime {

class StreamedText {
 public:
  StreamedText(std::function<void(std::string_view)> sink, std::vector<std::string> stops)
      : sink_(std::move(sink)), stops_(std::move(stops)) {}

  // `text` is the whole text so far (it only grows between calls).
  void Update(const std::string& text) {
    if (!sink_) return;
    size_t held = 0;
    for (const auto& s : stops_) held = std::max(held, PartialStop(text, s));
    Emit(text, text.size() - held);
  }
  // The final text (stop string already removed): everything left goes out.
  void Finish(const std::string& text) {
    if (sink_) Emit(text, text.size());
  }

 private:
  // Length of the longest proper prefix of `stop` that `text` ends with.
  static size_t PartialStop(std::string_view text, std::string_view stop) {
    for (size_t n = std::min(text.size(), stop.empty() ? 0 : stop.size() - 1); n > 0; --n)
      if (text.substr(text.size() - n) == stop.substr(0, n)) return n;
    return 0;
  }
  void Emit(const std::string& text, size_t upto) {
    if (upto > sent_ && upto <= text.size()) {
      sink_(std::string_view(text).substr(sent_, upto - sent_));
      sent_ = upto;
    }
  }

  std::function<void(std::string_view)> sink_;
  std::vector<std::string> stops_;
  size_t sent_ = 0;
};

}  // namespace sleeptime
