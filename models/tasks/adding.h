// The adding problem (Hochreiter & Schmidhuber 1997): a sequence of (value, marker)
// pairs, values uniform in [0, 1), exactly two markers set to 1 (one in each half
// of the sequence); the target is the sum of the two marked values. Predicting the
// mean (1.0) gives mse 1/6; solving it needs memory across the whole sequence.
#ifndef GATEFUSE_MODELS_TASKS_ADDING_H_
#define GATEFUSE_MODELS_TASKS_ADDING_H_

#include <cstdint>

#include "core/tensor.h"

namespace gatefuse {

struct AddingBatch {
  Tensor x;       // [T, B, 2]: value, marker
  Tensor target;  // [B, 1]
};

// A reproducible batch: the same (T, B, seed, dtype) always gives the same data.
AddingBatch MakeAddingBatch(int64_t T, int64_t B, uint64_t seed, DType dtype);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_TASKS_ADDING_H_
