#include "models/data/vocabulary.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Counts: the 3, cat 2, sat 2, a 1, mat 1, on 1.
const std::vector<std::vector<std::string>> kLists = {
    {"the", "cat", "sat"}, {"on", "the", "mat"}, {"a", "cat", "sat", "the"}};

VocabularyOptions Options(int64_t max_size, int64_t min_count) {
  VocabularyOptions options;
  options.max_size = max_size;
  options.min_count = min_count;
  return options;
}

TEST(VocabularyTest, SpecialTokensFirstThenByCountThenAlphabet) {
  absl::StatusOr<Vocabulary> vocab = Vocabulary::Build(kLists);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_THAT(vocab->tokens(), ElementsAre("<pad>", "<unk>", "the", "cat", "sat", "a", "mat", "on"));
  EXPECT_EQ(vocab->size(), 8);
  EXPECT_EQ(vocab->Id("<pad>"), Vocabulary::kPadId);
  EXPECT_EQ(vocab->Id("<unk>"), Vocabulary::kUnkId);
  EXPECT_EQ(vocab->Id("the"), 2);
  EXPECT_EQ(vocab->Id("on"), 7);
}

TEST(VocabularyTest, SizeCapKeepsMostFrequentAndBreaksTiesAlphabetically) {
  absl::StatusOr<Vocabulary> vocab = Vocabulary::Build(kLists, Options(4, 1));
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  // cat and sat tie at 2: cat wins on the alphabet.
  EXPECT_THAT(vocab->tokens(), ElementsAre("<pad>", "<unk>", "the", "cat"));
  EXPECT_EQ(vocab->Id("sat"), Vocabulary::kUnkId);
  absl::StatusOr<Vocabulary> six = Vocabulary::Build(kLists, Options(6, 1));
  ASSERT_TRUE(six.ok());
  EXPECT_THAT(six->tokens(), ElementsAre("<pad>", "<unk>", "the", "cat", "sat", "a"));
  absl::StatusOr<Vocabulary> two = Vocabulary::Build(kLists, Options(2, 1));
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2);
  absl::StatusOr<Vocabulary> big = Vocabulary::Build(kLists, Options(100, 1));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->size(), 8);
}

TEST(VocabularyTest, OrderOfInputDoesNotMatter) {
  std::vector<std::vector<std::string>> reversed(kLists.rbegin(), kLists.rend());
  EXPECT_EQ(Vocabulary::Build(reversed)->tokens(), Vocabulary::Build(kLists)->tokens());
}

TEST(VocabularyTest, MinCountDropsRareWords) {
  absl::StatusOr<Vocabulary> vocab = Vocabulary::Build(kLists, Options(0, 2));
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_THAT(vocab->tokens(), ElementsAre("<pad>", "<unk>", "the", "cat", "sat"));
  EXPECT_EQ(Vocabulary::Build(kLists, Options(0, 4))->size(), 2);
}

TEST(VocabularyTest, EncodeDecodeAndUnknowns) {
  absl::StatusOr<Vocabulary> vocab = Vocabulary::Build(kLists);
  ASSERT_TRUE(vocab.ok());
  EXPECT_THAT(vocab->Encode({"the", "dog", "sat", ""}), ElementsAre(2, 1, 4, 1));
  EXPECT_THAT(*vocab->Decode({0, 1, 2, 7}), ElementsAre("<pad>", "<unk>", "the", "on"));
  EXPECT_EQ(*vocab->Token(3), "cat");
  EXPECT_EQ(vocab->Token(8).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(vocab->Token(-1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(vocab->Decode({2, 99}).status().message()), HasSubstr("id 99"));
}

TEST(VocabularyTest, LiteralSpecialTokensAreNotCountedAsWords) {
  absl::StatusOr<Vocabulary> vocab = Vocabulary::Build({{"<unk>", "<pad>", "<unk>", "x"}});
  ASSERT_TRUE(vocab.ok());
  EXPECT_THAT(vocab->tokens(), ElementsAre("<pad>", "<unk>", "x"));
}

TEST(VocabularyTest, EmptyAndDefaultVocabularies) {
  EXPECT_THAT(Vocabulary().tokens(), ElementsAre("<pad>", "<unk>"));
  absl::StatusOr<Vocabulary> empty = Vocabulary::Build({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 2);
  EXPECT_EQ(empty->Id("anything"), Vocabulary::kUnkId);
}

TEST(VocabularyTest, RejectsBadOptions) {
  EXPECT_EQ(Vocabulary::Build(kLists, Options(1, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Vocabulary::Build(kLists, Options(-3, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Vocabulary::Build(kLists, Options(0, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VocabularyTest, FromTokensRoundTripsAndValidates) {
  absl::StatusOr<Vocabulary> built = Vocabulary::Build(kLists);
  absl::StatusOr<Vocabulary> loaded = Vocabulary::FromTokens(built->tokens());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->tokens(), built->tokens());
  EXPECT_EQ(loaded->Id("mat"), built->Id("mat"));
  EXPECT_FALSE(Vocabulary::FromTokens({"<unk>", "<pad>"}).ok());
  EXPECT_FALSE(Vocabulary::FromTokens({"<pad>"}).ok());
  absl::Status dup = Vocabulary::FromTokens({"<pad>", "<unk>", "a", "a"}).status();
  EXPECT_THAT(std::string(dup.message()), HasSubstr("\"a\" appears twice"));
}

}  // namespace
}  // namespace gatefuse
