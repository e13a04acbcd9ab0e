// Consensus among k sleep candidates: picks the one c′ that the others
// agree with most (self-consistency at sleep time, with no verifier).
//
// A candidate is read as a set of statements (the text between sentence ends:
// '.', '!', '?', newlines). Its agreement is the sum, over the other
// candidates, of the Jaccard overlap of their statement sets: a statement
// that only one sample wrote (a slip, a skipped step) lowers that sample's
// score, a statement most samples wrote raises theirs. The chosen text is
// one candidate verbatim, so c′ stays in the form the model writes and reads.
// Ties go to the earliest candidate. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sleeptime {

// The distinct statements of a text, trimmed, empty ones dropped, sorted.
std::vector<std::string> SplitStatements(std::string_view text);

// Index of the candidate with the highest agreement (0 for fewer than 3, where
// no majority can form); `scores`, when given, receives every candidate's.
size_t MostAgreedCandidate(const std::vector<std::string>& candidates, std::vector<double>* scores = nullptr);

}  // namespace sleeptime
