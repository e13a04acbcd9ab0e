// StreamedText: streamed pieces never include a stop string and add up to
// the final text.
#include "backend/streamed_text.h"

#include <gtest/gtest.h>

namespace sleeptime {
namespace {

std::string Stream(const std::vector<std::string>& tokens, const std::vector<std::string>& stops,
                   std::string* final_text, std::vector<std::string>* pieces) {
  std::string out;
  StreamedText s([&](std::string_view p) { out += p, pieces->push_back(std::string(p)); }, stops);
  std::string text;
  for (const auto& t : tokens) {
    text += t;
    bool stopped = false;
    for (const auto& st : stops) {
      if (text.size() >= st.size() && text.compare(text.size() - st.size(), st.size(), st) == 0) {
        text.resize(text.size() - st.size());
        stopped = true;
        break;
      }
    }
    if (stopped) break;
    s.Update(text);
  }
  s.Finish(text);
  *final_text = text;
  return out;
}

TEST(StreamedText, HoldsBackPartialStopStrings) {
  std::string final_text;
  std::vector<std::string> pieces;
  EXPECT_EQ(Stream({"Bob", "=1", "7. ans", "wer", ":", " 17"}, {" answer:"}, &final_text, &pieces),
            "Bob=17.");
  EXPECT_EQ(final_text, "Bob=17.");
  for (const auto& p : pieces) EXPECT_EQ(p.find(" ans"), std::string::npos) << p;
}

TEST(StreamedText, ReleasesAFalseAlarm) {
  std::string final_text;
  std::vector<std::string> pieces;
  EXPECT_EQ(Stream({"a ", "ans", "ible", " end"}, {" answer:"}, &final_text, &pieces), "a ansible end");
  EXPECT_EQ(final_text, "a ansible end");
  EXPECT_GE(pieces.size(), 3u);  // streamed as it went, not all at the end
}

TEST(StreamedText, NoStopsStreamsEveryToken) {
  std::string final_text;
  std::vector<std::string> pieces;
  EXPECT_EQ(Stream({"x", "y", "z"}, {}, &final_text, &pieces), "xyz");
  EXPECT_EQ(pieces, (std::vector<std::string>{"x", "y", "z"}));
}

}  // namespace
}  // namespace sleeptime
