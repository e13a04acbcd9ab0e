#include "engine/consensus.h"

#include <algorithm>
#include <iterator>

namespace sleeptime {

std::vector<std::string> SplitStatements(std::string_view text) {
  std::vector<std::string> out;
  auto flush = [&](std::string_view piece) {
    const size_t first = piece.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return;
    const size_t last = piece.find_last_not_of(" \t\r");
    out.emplace_back(piece.substr(first, last - first + 1));
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' || c == '!' || c == '?' || c == '\n') {
      flush(text.substr(start, i - start));
      start = i + 1;
    }
  }
  flush(text.substr(start));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

size_t MostAgreedCandidate(const std::vector<std::string>& candidates, std::vector<double>* scores) {
  std::vector<std::vector<std::string>> sets;
  sets.reserve(candidates.size());
  for (const std::string& c : candidates) sets.push_back(SplitStatements(c));
  std::vector<double> agreement(candidates.size(), 0.0);
  for (size_t i = 0; i < sets.size(); ++i) {
    for (size_t j = i + 1; j < sets.size(); ++j) {
      std::vector<std::string> shared;
      std::set_intersection(sets[i].begin(), sets[i].end(), sets[j].begin(), sets[j].end(),
                            std::back_inserter(shared));
      const size_t united = sets[i].size() + sets[j].size() - shared.size();
      const double jaccard = united == 0 ? 1.0 : static_cast<double>(shared.size()) / united;
      agreement[i] += jaccard;
      agreement[j] += jaccard;
    }
  }
  size_t best = 0;
  if (candidates.size() >= 3) {
    for (size_t i = 1; i < agreement.size(); ++i) {
      if (agreement[i] > agreement[best]) best = i;
    }
  }
  if (scores) *scores = std::move(agreement);
  return best;
}

}  // namespace sleeptime
