// A toy sentiment task for trainer tests: a sentence is good iff word 2 ("good")
// ends it; every fourth sentence is in the test split.
#ifndef GATEFUSE_MODELS_TASKS_TOY_SENTIMENT_TESTING_H_
#define GATEFUSE_MODELS_TASKS_TOY_SENTIMENT_TESTING_H_

#include <cstdint>
#include <vector>

#include "models/data/text_tasks.h"

namespace gatefuse {

inline TextTask ToySentiment(int64_t n) {
  TextTask t;
  t.vocab = *Vocabulary::FromTokens({"<pad>", "<unk>", "good", "bad", "the", "phone"});
  t.num_classes = 2;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> s;
    for (int64_t k = 0; k < 1 + i % 5; ++k) s.push_back(4 + (i + k) % 2);
    const int64_t label = (i * 7) % 3 == 0 ? 1 : 0;
    s.push_back(label ? 2 : 3);
    SequenceDataset& part = i % 4 == 0 ? t.test : t.train;
    part.sequences.push_back(s);
    part.targets.push_back(label);
  }
  return t;
}

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_TASKS_TOY_SENTIMENT_TESTING_H_
