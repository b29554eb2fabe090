#include "models/data/tokenizer.h"

#include <utility>

#include "absl/strings/str_replace.h"

namespace gatefuse {
namespace {

// Byte classes, decided on unsigned values so that UTF-8 bytes (>= 0x80) are words.
bool IsWordByte(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsPunctuationByte(unsigned char c) { return c > ' ' && c < 0x7f && !IsWordByte(c); }
char ToLowerAscii(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

bool IsSentenceEnd(const std::string& token) {
  return token == "." || token == "!" || token == "?";
}

}  // namespace

std::vector<std::string> Tokenize(absl::string_view text) {
  std::vector<std::string> tokens;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = text[i];
    if (IsWordByte(c)) {
      word.push_back(ToLowerAscii(c));
    } else if (c == '\'' && !word.empty() && i + 1 < n && IsWordByte(text[i + 1])) {
      word.push_back('\'');  // inside a word: don't, o'clock
    } else {
      flush();
      if (IsPunctuationByte(c)) tokens.emplace_back(1, static_cast<char>(c));
    }
  }
  flush();
  return tokens;
}

std::string NormalizeTypography(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"\xE2\x80\x98", "'"},    // ‘
                                    {"\xE2\x80\x99", "'"},    // ’
                                    {"\xE2\x80\x9C", "\""},   // “
                                    {"\xE2\x80\x9D", "\""},   // ”
                                    {"\xE2\x80\x93", "-"},    // –
                                    {"\xE2\x80\x94", "-"}});  // —
}

std::vector<std::vector<std::string>> SplitSentences(absl::Span<const std::string> tokens) {
  std::vector<std::vector<std::string>> sentences;
  std::vector<std::string> current;
  for (size_t i = 0; i < tokens.size(); ++i) {
    current.push_back(tokens[i]);
    const bool run_ends = i + 1 == tokens.size() || !IsSentenceEnd(tokens[i + 1]);
    if (IsSentenceEnd(tokens[i]) && run_ends) {
      sentences.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) sentences.push_back(std::move(current));
  return sentences;
}

}  // namespace gatefuse
