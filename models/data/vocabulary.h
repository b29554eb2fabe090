// Vocabulary: token <-> id, built from token lists; ids 0 and 1 are <pad> and <unk>.
//
//   Vocabulary v = *Vocabulary::Build({{"b", "a", "b"}, {"c"}}, {/*max_size=*/4});
//   // ids: <pad>=0 <unk>=1 b=2 a=3   ("a" beats "c" on the tie by alphabet)
//   v.Encode({"a", "zzz"}) -> {3, 1}
//
// Words are ranked by count, most frequent first, ties broken by byte-wise
// alphabetical order, so the same token lists always give the same ids.
#ifndef GATEFUSE_MODELS_DATA_VOCABULARY_H_
#define GATEFUSE_MODELS_DATA_VOCABULARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gatefuse {

struct VocabularyOptions {
  // Cap on size(), the two special tokens included; 0 means no cap, else >= 2.
  int64_t max_size = 0;
  // Words seen fewer times than this are left out (and so map to <unk>); >= 1.
  int64_t min_count = 1;
};

class Vocabulary {
 public:
  static constexpr int64_t kPadId = 0;
  static constexpr int64_t kUnkId = 1;
  static constexpr absl::string_view kPad = "<pad>";
  static constexpr absl::string_view kUnk = "<unk>";

  Vocabulary();  // just <pad> and <unk>

  // Occurrences of the literal strings "<pad>" and "<unk>" are not counted as words.
  // InvalidArgument if the options are out of range.
  static absl::StatusOr<Vocabulary> Build(absl::Span<const std::vector<std::string>> token_lists,
                                          const VocabularyOptions& options = {});
  // A vocabulary with exactly these tokens in id order (for reloading a saved one):
  // they must start with <pad>, <unk> and contain no duplicates.
  static absl::StatusOr<Vocabulary> FromTokens(std::vector<std::string> tokens);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // kUnkId for a token not in the vocabulary.
  int64_t Id(absl::string_view token) const;
  // OutOfRange unless 0 <= id < size().
  absl::StatusOr<std::string> Token(int64_t id) const;
  std::vector<int64_t> Encode(absl::Span<const std::string> tokens) const;
  absl::StatusOr<std::vector<std::string>> Decode(absl::Span<const int64_t> ids) const;
  // All tokens, in id order.
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::vector<std::string> tokens_;
  absl::flat_hash_map<std::string, int64_t> ids_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DATA_VOCABULARY_H_
