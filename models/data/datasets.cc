#include "models/data/datasets.h"

#include <filesystem>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/status.h"
#include "models/data/tokenizer.h"

namespace gatefuse {
namespace {

absl::StatusOr<std::string> ReadDataFile(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(
        path, ": no such file; run tools/setup.sh to download the data sets into data/"));
  }
  if (std::filesystem::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a data file"));
  }
  return ReadFile(path);
}

// The first characters of a line, for error messages.
std::string Excerpt(absl::string_view line) {
  constexpr size_t kMax = 60;
  return line.size() <= kMax ? std::string(line) : absl::StrCat(line.substr(0, kMax), "...");
}

}  // namespace

absl::StatusOr<SentimentData> LoadSentiment(const std::string& path) {
  GF_ASSIGN_OR_RETURN(const std::string text, ReadDataFile(path));
  SentimentData data;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const auto where = [&] { return absl::StrCat(path, ":", line_number, ": "); };
    const size_t tab = line.rfind('\t');
    if (tab == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "expected \"sentence<TAB>label\", found no tab in \"", Excerpt(line), "\""));
    }
    const absl::string_view sentence = absl::StripAsciiWhitespace(line.substr(0, tab));
    const absl::string_view label = absl::StripAsciiWhitespace(line.substr(tab + 1));
    if (label != "0" && label != "1") {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "label must be 0 or 1, found \"", Excerpt(label), "\""));
    }
    if (sentence.empty()) return absl::InvalidArgumentError(absl::StrCat(where(), "empty sentence"));
    data.sentences.emplace_back(sentence);
    data.labels.push_back(label == "1" ? 1 : 0);
  }
  if (data.sentences.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no \"sentence<TAB>label\" lines"));
  }
  return data;
}

MobyDickText TokenizeBook(absl::string_view text) {
  MobyDickText book;
  std::string paragraph;
  auto flush = [&] {
    const std::vector<std::string> tokens = Tokenize(NormalizeTypography(paragraph));
    paragraph.clear();
    for (std::vector<std::string>& sentence : SplitSentences(tokens)) {
      book.tokens.insert(book.tokens.end(), sentence.begin(), sentence.end());
      book.sentences.push_back(std::move(sentence));
    }
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StripAsciiWhitespace(line).empty()) {
      flush();
    } else {
      absl::StrAppend(&paragraph, line, "\n");
    }
  }
  flush();
  return book;
}

absl::StatusOr<MobyDickText> LoadMobyDick(const std::string& path) {
  GF_ASSIGN_OR_RETURN(const std::string text, ReadDataFile(path));
  MobyDickText book = TokenizeBook(text);
  if (book.tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no text"));
  return book;
}

}  // namespace gatefuse
