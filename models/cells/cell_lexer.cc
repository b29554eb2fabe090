// The .cell lexer: text to tokens (names, numbers, one-character symbols, line
// ends). `#` starts a comment to the end of the line; blanks separate tokens.
// Columns count bytes, so a location is exact for any encoding.
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "models/cells/cell_language_internal.h"

namespace gatefuse::cell_language_internal {
namespace {

bool IsNameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }

}  // namespace

std::string Describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kName: return absl::StrCat("'", t.text, "'");
    case TokenKind::kNumber: return absl::StrCat("the number ", t.text);
    case TokenKind::kSymbol: return absl::StrCat("'", t.text, "'");
    case TokenKind::kNewline: return "the end of the line";
    case TokenKind::kEnd: return "the end of the file";
  }
  return "?";
}

absl::StatusOr<std::vector<Token>> Lex(const std::string& text, const std::string& file) {
  std::vector<Token> tokens;
  const size_t n = text.size();
  size_t i = 0;
  SourceLocation loc;
  auto digit_at = [&](size_t k) { return k < n && IsDigit(text[k]); };
  while (i < n) {
    const char c = text[i];
    const size_t start = i;
    Token t;
    t.location = loc;
    if (c == '\n') {
      t.kind = TokenKind::kNewline;
      tokens.push_back(t);
      ++i;
      ++loc.line;
      loc.column = 1;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      ++loc.column;
      continue;
    }
    if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (IsNameStart(c)) {
      while (i < n && IsNameChar(text[i])) ++i;
      t.kind = TokenKind::kName;
    } else if (IsDigit(c) || (c == '.' && digit_at(i + 1))) {
      while (digit_at(i)) ++i;
      if (i < n && text[i] == '.') {
        ++i;
        while (digit_at(i)) ++i;
      }
      if (i < n && (text[i] == 'e' || text[i] == 'E') &&
          (digit_at(i + 1) ||
           (i + 1 < n && (text[i + 1] == '+' || text[i + 1] == '-') && digit_at(i + 2)))) {
        i += 2;
        while (digit_at(i)) ++i;
      }
      if (i < n && (IsNameChar(text[i]) || text[i] == '.')) {
        while (i < n && (IsNameChar(text[i]) || text[i] == '.')) ++i;
        return ErrorAt(file, loc,
                       absl::StrCat("malformed number '", text.substr(start, i - start), "'"));
      }
      t.kind = TokenKind::kNumber;
      t.number = std::strtod(text.substr(start, i - start).c_str(), nullptr);
      if (!std::isfinite(t.number)) {
        return ErrorAt(file, loc,
                       absl::StrCat("number ", text.substr(start, i - start), " is out of range"));
      }
    } else if (absl::string_view("()[],=@+-*/").find(c) != absl::string_view::npos) {
      ++i;
      t.kind = TokenKind::kSymbol;
    } else {
      const unsigned char u = static_cast<unsigned char>(c);
      return ErrorAt(file, loc,
                     absl::ascii_isprint(u)
                         ? absl::StrCat("unexpected character '", std::string(1, c), "'")
                         : absl::StrFormat("unexpected byte 0x%02x", u));
    }
    t.text = text.substr(start, i - start);
    loc.column += static_cast<int>(i - start);
    tokens.push_back(std::move(t));
  }
  Token end;
  end.kind = TokenKind::kEnd;
  end.location = loc;
  tokens.push_back(end);
  return tokens;
}

}  // namespace gatefuse::cell_language_internal
