// Layers around the generic ops, each holding its parameters as named leaves with a
// deterministic initialisation from a seed, and the learning-rate schedule.
//
//   GF_ASSIGN_OR_RETURN(EmbeddingLayer embed, EmbeddingLayer::Create(1000, 32, seed));
//   GF_ASSIGN_OR_RETURN(DenseLayer head, DenseLayer::Create(64, 1, seed + 1));
//   VarOr x = embed.Forward(Var::Constant(ids));        // ids i64 [T, B] -> [T, B, 32]
//   VarOr logit = head.Forward(summary);                // [B, 64] -> [B, 1]
//   DropoutLayer drop(0.2);  drop.Forward(x, step_seed, /*training=*/true);
//
// Parameter names are "<layer>.<param>": "embedding.table", "dense.W", "dense.b".
#ifndef GATEFUSE_MODELS_NN_LAYERS_H_
#define GATEFUSE_MODELS_NN_LAYERS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "core/tape.h"

namespace gatefuse {

// table [V, D], uniform in [-0.1, 0.1): ids i64 of any shape -> [ids..., D].
class EmbeddingLayer {
 public:
  // InvalidArgument unless vocab_size >= 1 and dim >= 1.
  static absl::StatusOr<EmbeddingLayer> Create(int64_t vocab_size, int64_t dim, uint64_t seed,
                                               DType dtype = DType::kF32);
  VarOr Forward(const Var& ids) const;
  const Var& table() const { return table_; }
  int64_t vocab_size() const { return table_.shape()[0]; }
  int64_t dim() const { return table_.shape()[1]; }

 private:
  Var table_;
};

// y = x @ W + b with W [in, out] uniform in +-1/sqrt(in) and b [out] zero.
class DenseLayer {
 public:
  static absl::StatusOr<DenseLayer> Create(int64_t in, int64_t out, uint64_t seed,
                                           DType dtype = DType::kF32);
  // x [.., in]: rank 2 directly, higher ranks through a reshape to [N, in].
  VarOr Forward(const Var& x) const;
  const Var& weight() const { return w_; }
  const Var& bias() const { return b_; }
  int64_t in() const { return w_.shape()[0]; }
  int64_t out() const { return w_.shape()[1]; }

 private:
  Var w_, b_;
};

// Inverted dropout: off at evaluation; the mask is a pure function of the seed the
// caller passes (e.g. derived from the training step), so runs are reproducible.
class DropoutLayer {
 public:
  // InvalidArgument unless 0 <= rate < 1.
  static absl::StatusOr<DropoutLayer> Create(double rate);
  VarOr Forward(const Var& x, uint64_t seed, bool training) const;
  double rate() const { return rate_; }

 private:
  explicit DropoutLayer(double rate) : rate_(rate) {}
  double rate_ = 0;
};

// The parameters of several layers under one map: "<prefix>.<name>".
void AddParams(const std::string& prefix, const std::map<std::string, Var>& params,
               std::map<std::string, Var>& all);

// Learning rate as a function of the optimizer step (0-based):
//   constant:  lr
//   step:      lr * gamma^floor(step / step_size)
//   warmup:    lr * (step + 1) / warmup_steps for the first warmup_steps, then linear
//              decay to lr * final_fraction at total_steps
struct LrSchedule {
  std::string kind = "constant";
  double lr = 1e-2;
  int64_t step_size = 1000;     // step
  double gamma = 0.5;           // step
  int64_t warmup_steps = 100;   // warmup
  int64_t total_steps = 10000;  // warmup
  double final_fraction = 0.1;  // warmup

  // InvalidArgument naming the field that is out of range or the unknown kind.
  absl::Status Validate() const;
  double At(int64_t step) const;
};

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_NN_LAYERS_H_
