#include "models/data/text_tasks.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "models/data/next_word.h"
#include "models/data/tokenizer.h"

namespace gatefuse {
namespace {

std::vector<std::vector<std::string>> Pick(absl::Span<const std::vector<std::string>> lists,
                                           absl::Span<const int64_t> indices) {
  std::vector<std::vector<std::string>> out;
  out.reserve(indices.size());
  for (int64_t i : indices) out.push_back(lists[i]);
  return out;
}

std::vector<std::vector<int64_t>> EncodeAll(const Vocabulary& vocab,
                                            absl::Span<const std::vector<std::string>> lists) {
  std::vector<std::vector<int64_t>> out;
  out.reserve(lists.size());
  for (const std::vector<std::string>& tokens : lists) out.push_back(vocab.Encode(tokens));
  return out;
}

}  // namespace

absl::StatusOr<TextTask> MakeSentimentTask(const SentimentData& data,
                                           const TextTaskOptions& options) {
  if (data.sentences.size() != data.labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat("sentiment data has ", data.sentences.size(),
                                                   " sentences but ", data.labels.size(),
                                                   " labels"));
  }
  for (size_t i = 0; i < data.labels.size(); ++i) {
    if (data.labels[i] != 0 && data.labels[i] != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("sentiment label ", i, " is ", data.labels[i], "; labels are 0 or 1"));
    }
  }
  const int64_t n = static_cast<int64_t>(data.sentences.size());
  GF_ASSIGN_OR_RETURN(TrainTestSplit split, SplitTrainTest(n, options.test_fraction, options.seed));
  std::vector<std::vector<std::string>> tokens;
  tokens.reserve(n);
  for (const std::string& sentence : data.sentences) tokens.push_back(Tokenize(sentence));
  const std::vector<std::vector<std::string>> train_tokens = Pick(tokens, split.train);
  TextTask task;
  GF_ASSIGN_OR_RETURN(task.vocab, Vocabulary::Build(train_tokens, options.vocabulary));
  task.num_classes = 2;
  task.train.sequences = EncodeAll(task.vocab, train_tokens);
  task.test.sequences = EncodeAll(task.vocab, Pick(tokens, split.test));
  for (int64_t i : split.train) task.train.targets.push_back(data.labels[i]);
  for (int64_t i : split.test) task.test.targets.push_back(data.labels[i]);
  return task;
}

absl::StatusOr<TextTask> MakeNextWordTask(absl::Span<const std::vector<std::string>> sentences,
                                          const TextTaskOptions& options) {
  const int64_t n = static_cast<int64_t>(sentences.size());
  GF_ASSIGN_OR_RETURN(TrainTestSplit split, SplitTrainTest(n, options.test_fraction, options.seed));
  const std::vector<std::vector<std::string>> train_sentences = Pick(sentences, split.train);
  TextTask task;
  GF_ASSIGN_OR_RETURN(task.vocab, Vocabulary::Build(train_sentences, options.vocabulary));
  task.num_classes = task.vocab.size();
  GF_ASSIGN_OR_RETURN(task.train,
                      BuildNextWordExamples(EncodeAll(task.vocab, train_sentences), options.max_len));
  GF_ASSIGN_OR_RETURN(task.test, BuildNextWordExamples(
                                     EncodeAll(task.vocab, Pick(sentences, split.test)),
                                     options.max_len));
  return task;
}

}  // namespace gatefuse
