#include "models/tasks/adding.h"

#include <random>
#include <vector>

namespace gatefuse {

AddingBatch MakeAddingBatch(int64_t T, int64_t B, uint64_t seed, DType dtype) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> value(0.0, 1.0);
  const int64_t half = std::max<int64_t>(1, T / 2);
  std::uniform_int_distribution<int64_t> first(0, half - 1), second(half, std::max(half, T - 1));
  std::vector<double> x(T * B * 2, 0.0), target(B, 0.0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) x[(t * B + b) * 2] = value(rng);
    const int64_t m1 = first(rng), m2 = T > 1 ? second(rng) : m1;
    x[(m1 * B + b) * 2 + 1] = 1;
    x[(m2 * B + b) * 2 + 1] = 1;
    target[b] = x[(m1 * B + b) * 2] + (m2 != m1 ? x[(m2 * B + b) * 2] : 0.0);
  }
  return {*Tensor::FromValues({T, B, 2}, x, dtype), *Tensor::FromValues({B, 1}, target, dtype)};
}

}  // namespace gatefuse
