// Consensus among sleep candidates (src/engine/consensus.h).
#include "engine/consensus.h"

#include <gtest/gtest.h>

namespace sleeptime {
namespace {

TEST(Consensus, StatementsAreTrimmedDistinctAndSorted) {
  EXPECT_EQ(SplitStatements(" B=17. C=34.\nC=34! Why? "), (std::vector<std::string>{"B=17", "C=34", "Why"}));
  EXPECT_TRUE(SplitStatements(" . .\n ").empty());
  EXPECT_EQ(SplitStatements("no end"), (std::vector<std::string>{"no end"}));
}

TEST(Consensus, TheSlipLosesToTheMajority) {
  // Candidate 1 skipped a step and got C wrong; the others agree.
  const std::vector<std::string> candidates = {" B=17. C=34. D=40.", " B=17. C=23. D=29.",
                                               " B=17. C=34. D=40. B+C=51.", " C=34. B=17. D=40."};
  std::vector<double> scores;
  const size_t best = MostAgreedCandidate(candidates, &scores);
  ASSERT_EQ(scores.size(), 4u);
  EXPECT_LT(scores[1], scores[0]);
  EXPECT_LT(scores[1], scores[2]);
  // 0 and 3 state the same set; the earliest of the tied wins.
  EXPECT_DOUBLE_EQ(scores[0], scores[3]);
  EXPECT_EQ(best, 0u);
  // The greedy notes first are outvoted when they are the odd one out.
  const std::vector<std::string> outvoted = {" B=17. C=23.", " B=17. C=34.", " B=17. C=34."};
  EXPECT_EQ(MostAgreedCandidate(outvoted), 1u);
}

TEST(Consensus, NoMajorityWithoutThreeCandidates) {
  EXPECT_EQ(MostAgreedCandidate({}), 0u);
  EXPECT_EQ(MostAgreedCandidate({" A=1."}), 0u);
  EXPECT_EQ(MostAgreedCandidate({" A=1.", " A=2. B=3."}), 0u);
  // Empty candidates agree with each other fully, and with nothing else.
  std::vector<double> scores;
  EXPECT_EQ(MostAgreedCandidate({" A=1.", "", ""}, &scores), 1u);
  EXPECT_DOUBLE_EQ(scores[0], 0.0);
  EXPECT_DOUBLE_EQ(scores[1], 1.0);
}

}  // namespace
}  // namespace sleeptime
