#include "models/data/next_word.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gatefuse {

absl::StatusOr<SequenceDataset> BuildNextWordExamples(
    absl::Span<const std::vector<int64_t>> sentences, int64_t max_len) {
  if (max_len < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("next-word examples: max_len must be >= 1, got ", max_len));
  }
  SequenceDataset data;
  for (size_t s = 0; s < sentences.size(); ++s) {
    const std::vector<int64_t>& words = sentences[s];
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i] < 1) {
        return absl::InvalidArgumentError(absl::StrCat("next-word examples: sentence ", s,
                                                       " has id ", words[i], " at position ", i,
                                                       "; word ids start at 1 (0 is <pad>)"));
      }
    }
    for (size_t i = 1; i < words.size(); ++i) {
      const size_t start = i - std::min(i, static_cast<size_t>(max_len));
      data.sequences.emplace_back(words.begin() + start, words.begin() + i);
      data.targets.push_back(words[i]);
    }
  }
  return data;
}

absl::StatusOr<double> UnigramPerplexity(absl::Span<const int64_t> train_targets,
                                         absl::Span<const int64_t> heldout_targets,
                                         int64_t vocab_size) {
  if (vocab_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unigram perplexity: vocab_size must be >= 1, got ", vocab_size));
  }
  if (heldout_targets.empty()) {
    return absl::InvalidArgumentError("unigram perplexity: no held-out targets");
  }
  auto check = [&](absl::Span<const int64_t> ids, const char* which) -> absl::Status {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("unigram perplexity: ", which, " target ",
                                                       i, " is ", ids[i], ", outside [0, ",
                                                       vocab_size, ")"));
      }
    }
    return absl::OkStatus();
  };
  GF_RETURN_IF_ERROR(check(train_targets, "training"));
  GF_RETURN_IF_ERROR(check(heldout_targets, "held-out"));
  std::vector<int64_t> counts(vocab_size, 0);
  for (int64_t id : train_targets) ++counts[id];
  const double denominator = static_cast<double>(train_targets.size()) + vocab_size;
  double log_likelihood = 0;
  for (int64_t id : heldout_targets) log_likelihood += std::log((counts[id] + 1) / denominator);
  return std::exp(-log_likelihood / heldout_targets.size());
}

}  // namespace gatefuse
