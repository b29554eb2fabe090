// Tokenizer: lower-cased words, each punctuation character a token of its own.
//
//   Tokenize("Great phone!! Don't buy.") -> great phone ! ! don't buy .
//
// A word is a run of ASCII letters and digits and of non-ASCII bytes, so UTF-8 text
// passes through byte for byte (only ASCII is lower-cased). An apostrophe between two
// word characters belongs to the word ("don't", "o'clock"); anywhere else it is
// punctuation. Every other ASCII punctuation character is a token; whitespace and
// control characters separate tokens and are dropped. Deterministic; cannot fail.
#ifndef GATEFUSE_MODELS_DATA_TOKENIZER_H_
#define GATEFUSE_MODELS_DATA_TOKENIZER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gatefuse {

std::vector<std::string> Tokenize(absl::string_view text);

// Replaces the UTF-8 typographic quotes and dashes ‘ ’ “ ” – — by ' ' " " - -, so that
// "people’s" tokenizes like "people's" and "ago—never" splits into three tokens.
std::string NormalizeTypography(absl::string_view text);

// The sentences of a token stream: each ends after a run of ".", "!" or "?" tokens
// ("wait ! ! then" -> [wait ! !] [then]); trailing tokens without a terminator make
// a last sentence. Concatenating the sentences gives back `tokens`.
std::vector<std::vector<std::string>> SplitSentences(absl::Span<const std::string> tokens);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DATA_TOKENIZER_H_
