#include "models/data/tokenizer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TokenizeTest, LowerCasesAndSplitsPunctuation) {
  EXPECT_THAT(Tokenize("Great phone!!"), ElementsAre("great", "phone", "!", "!"));
  EXPECT_THAT(Tokenize("Good case, Excellent value."),
              ElementsAre("good", "case", ",", "excellent", "value", "."));
  EXPECT_THAT(Tokenize("45 minutes.MAJOR PROBLEMS!!"),
              ElementsAre("45", "minutes", ".", "major", "problems", "!", "!"));
  EXPECT_THAT(Tokenize("a-b_c(d)\"e\""),
              ElementsAre("a", "-", "b", "_", "c", "(", "d", ")", "\"", "e", "\""));
}

TEST(TokenizeTest, ApostrophesInsideWordsStay) {
  EXPECT_THAT(Tokenize("Don't"), ElementsAre("don't"));
  EXPECT_THAT(Tokenize("rock'n'roll o'clock"), ElementsAre("rock'n'roll", "o'clock"));
  EXPECT_THAT(Tokenize("'quoted' dogs' 'tis"),
              ElementsAre("'", "quoted", "'", "dogs", "'", "'", "tis"));
  EXPECT_THAT(Tokenize("it's'"), ElementsAre("it's", "'"));
  EXPECT_THAT(Tokenize("a''b"), ElementsAre("a", "'", "'", "b"));
}

TEST(TokenizeTest, WhitespaceAndControlCharactersSeparate) {
  EXPECT_THAT(Tokenize("  one\ttwo\r\nthree\x01" "four\x7f"),
              ElementsAre("one", "two", "three", "four"));
  EXPECT_THAT(Tokenize(std::string("a\0b", 3)), ElementsAre("a", "b"));
  EXPECT_THAT(Tokenize(""), IsEmpty());
  EXPECT_THAT(Tokenize(" \n\t "), IsEmpty());
}

TEST(TokenizeTest, NonAsciiBytesAreWordCharactersAndPassThrough) {
  // "Café—naïve" in UTF-8: the em dash is a word byte too, so one token.
  EXPECT_THAT(Tokenize("Caf\xC3\xA9 NA\xC3\xAFVE!"),
              ElementsAre("caf\xC3\xA9", "na\xC3\xAFve", "!"));
  EXPECT_THAT(Tokenize("ago\xE2\x80\x94never"), ElementsAre("ago\xE2\x80\x94never"));
  // Invalid UTF-8 (lone continuation bytes, a truncated sequence) must not crash.
  EXPECT_THAT(Tokenize("\x80\xBF x \xE2\x80"), ElementsAre("\x80\xBF", "x", "\xE2\x80"));
  EXPECT_THAT(Tokenize("l'\xC3\xA9t\xC3\xA9"), ElementsAre("l'\xC3\xA9t\xC3\xA9"));
}

TEST(TokenizeTest, IsDeterministic) {
  const std::string text = "Call me Ishmael. Some years ago--never mind how long precisely!";
  EXPECT_EQ(Tokenize(text), Tokenize(text));
}

TEST(NormalizeTypographyTest, QuotesAndDashesBecomeAscii) {
  EXPECT_EQ(NormalizeTypography("people\xE2\x80\x99s \xE2\x80\x9CHi\xE2\x80\x9D \xE2\x80\x98"
                                "a\xE2\x80\x99 x\xE2\x80\x93y ago\xE2\x80\x94never"),
            "people's \"Hi\" 'a' x-y ago-never");
  EXPECT_THAT(Tokenize(NormalizeTypography("People\xE2\x80\x99s ago\xE2\x80\x94never")),
              ElementsAre("people's", "ago", "-", "never"));
  EXPECT_EQ(NormalizeTypography("caf\xC3\xA9 \xE2\x80"), "caf\xC3\xA9 \xE2\x80");
}

TEST(SplitSentencesTest, EndsAfterRunsOfTerminators) {
  const std::vector<std::string> tokens = {"call", "me", "ishmael", ".", "wait", "!", "!",
                                           "what", "?", "!", "and", "then"};
  EXPECT_THAT(SplitSentences(tokens),
              ElementsAre(ElementsAre("call", "me", "ishmael", "."),
                          ElementsAre("wait", "!", "!"), ElementsAre("what", "?", "!"),
                          ElementsAre("and", "then")));
  EXPECT_THAT(SplitSentences({}), IsEmpty());
  EXPECT_THAT(SplitSentences({".", "."}), ElementsAre(ElementsAre(".", ".")));
}

}  // namespace
}  // namespace gatefuse
