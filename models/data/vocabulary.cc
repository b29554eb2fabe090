#include "models/data/vocabulary.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gatefuse {

Vocabulary::Vocabulary()
    : tokens_{std::string(kPad), std::string(kUnk)},
      ids_{{std::string(kPad), kPadId}, {std::string(kUnk), kUnkId}} {}

absl::StatusOr<Vocabulary> Vocabulary::Build(absl::Span<const std::vector<std::string>> token_lists,
                                             const VocabularyOptions& options) {
  if (options.max_size != 0 && options.max_size < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocabulary: max_size must be 0 (no cap) or >= 2 (<pad> and <unk>), got ",
        options.max_size));
  }
  if (options.min_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary: min_count must be >= 1, got ", options.min_count));
  }
  absl::flat_hash_map<std::string, int64_t> counts;
  for (const std::vector<std::string>& list : token_lists) {
    for (const std::string& token : list) {
      if (token != kPad && token != kUnk) ++counts[token];
    }
  }
  std::vector<std::pair<int64_t, std::string>> ranked;  // (-count, token) sorts as wanted
  for (auto& [token, count] : counts) {
    if (count >= options.min_count) ranked.emplace_back(-count, token);
  }
  std::sort(ranked.begin(), ranked.end());
  if (options.max_size != 0 && static_cast<int64_t>(ranked.size()) > options.max_size - 2) {
    ranked.resize(options.max_size - 2);
  }
  Vocabulary vocab;
  for (auto& entry : ranked) {
    vocab.ids_.emplace(entry.second, vocab.size());
    vocab.tokens_.push_back(std::move(entry.second));
  }
  return vocab;
}

absl::StatusOr<Vocabulary> Vocabulary::FromTokens(std::vector<std::string> tokens) {
  if (tokens.size() < 2 || tokens[kPadId] != kPad || tokens[kUnkId] != kUnk) {
    return absl::InvalidArgumentError(
        "vocabulary: a token list must start with \"<pad>\", \"<unk>\"");
  }
  Vocabulary vocab;
  for (size_t i = 2; i < tokens.size(); ++i) {
    if (!vocab.ids_.emplace(tokens[i], vocab.size()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocabulary: token \"", tokens[i], "\" appears twice (id ", i, ")"));
    }
    vocab.tokens_.push_back(std::move(tokens[i]));
  }
  return vocab;
}

int64_t Vocabulary::Id(absl::string_view token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? kUnkId : it->second;
}

absl::StatusOr<std::string> Vocabulary::Token(int64_t id) const {
  if (id < 0 || id >= size()) {
    return absl::OutOfRangeError(
        absl::StrCat("vocabulary: id ", id, " is outside [0, ", size(), ")"));
  }
  return tokens_[id];
}

std::vector<int64_t> Vocabulary::Encode(absl::Span<const std::string> tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& token : tokens) ids.push_back(Id(token));
  return ids;
}

absl::StatusOr<std::vector<std::string>> Vocabulary::Decode(absl::Span<const int64_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    GF_ASSIGN_OR_RETURN(std::string token, Token(id));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace gatefuse
