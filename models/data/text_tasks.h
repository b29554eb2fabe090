// The two text tasks, ready to train on: vocabulary, train and test examples.
//
//   GF_ASSIGN_OR_RETURN(SentimentData raw, LoadSentiment(path));
//   GF_ASSIGN_OR_RETURN(TextTask task, MakeSentimentTask(raw, options));
//   for (auto& idx : *ShuffledBatches(task.train.size(), 32, seed + epoch))
//     SequenceBatch b = *MakeBatch(task.train, idx, options.max_len);
//
// The split comes first and the vocabulary is built from the training part only, so
// test words the model never saw become <unk>, as they would in use. The language
// model task is split by sentence, so no sentence lends prefixes to both parts.
#ifndef GATEFUSE_MODELS_DATA_TEXT_TASKS_H_
#define GATEFUSE_MODELS_DATA_TEXT_TASKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/data/batching.h"
#include "models/data/datasets.h"
#include "models/data/vocabulary.h"

namespace gatefuse {

struct TextTaskOptions {
  double test_fraction = 0.2;
  uint64_t seed = 1;           // of the train/test split
  VocabularyOptions vocabulary;
  int64_t max_len = 32;        // T: contexts of the next-word task keep their last max_len ids
};

struct TextTask {
  Vocabulary vocab;
  SequenceDataset train;
  SequenceDataset test;
  int64_t num_classes = 0;  // 2 for sentiment; vocab.size() for next word
};

// Sequences are the tokenized sentences (whole; MakeBatch truncates), targets the labels.
absl::StatusOr<TextTask> MakeSentimentTask(const SentimentData& data,
                                           const TextTaskOptions& options);

// Split of the sentences, then BuildNextWordExamples on each part.
absl::StatusOr<TextTask> MakeNextWordTask(absl::Span<const std::vector<std::string>> sentences,
                                          const TextTaskOptions& options);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DATA_TEXT_TASKS_H_
