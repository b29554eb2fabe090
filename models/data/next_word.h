// Next-word prediction examples and the unigram baseline to compare a language model
// against.
//
// Examples are built per sentence: for a sentence w_0 .. w_{n-1} (ids) and every
// position i in 1..n-1 there is one example whose context is the prefix w_0 .. w_{i-1}
// cut to its last `max_len` tokens and whose target is w_i. With max_len = 3:
//
//   [the cat sat down]  ->  [the] -> cat,  [the cat] -> sat,  [the cat sat] -> down
//   [a b c d e]         ->  ... [a b c] -> d,  [b c d] -> e
//
// A one-token sentence gives no example. MakeBatch pads the contexts in front.
#ifndef GATEFUSE_MODELS_DATA_NEXT_WORD_H_
#define GATEFUSE_MODELS_DATA_NEXT_WORD_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/data/batching.h"

namespace gatefuse {

// InvalidArgument if max_len < 1 or an id is < 1 (0 is <pad>, never a word).
absl::StatusOr<SequenceDataset> BuildNextWordExamples(
    absl::Span<const std::vector<int64_t>> sentences, int64_t max_len);

// Perplexity on heldout_targets of the unigram distribution of train_targets with
// add-one smoothing over all vocab_size ids:
//   p(w) = (count(w) + 1) / (N + V),   perplexity = exp(-mean over held-out of log p(w)).
// With no training targets it is V (uniform). InvalidArgument if vocab_size < 1,
// there is no held-out target, or an id is outside [0, vocab_size).
absl::StatusOr<double> UnigramPerplexity(absl::Span<const int64_t> train_targets,
                                         absl::Span<const int64_t> heldout_targets,
                                         int64_t vocab_size);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DATA_NEXT_WORD_H_
