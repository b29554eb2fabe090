// A tiny LSTM written with generic ops, trained on the adding problem with T=20:
// prints the training loss falling and the test mse against the trivial baseline.
//
//   bazel run //tools:tiny_lstm_demo -- [--steps N] [--seed N]
#include <chrono>
#include <cstdio>

#include "core/status.h"
#include "models/tasks/adding.h"
#include "models/cells/cell.h"
#include "models/nn/optimizer.h"
#include "ops/ops.h"
#include "tools/args.h"

namespace gatefuse {
namespace {

constexpr int64_t kT = 20, kBatch = 32, kHidden = 16;

struct Model {
  Cell cell;
  ParamMap params;
  Var w_out, b_out;

  std::vector<Var> Parameters() const {
    std::vector<Var> all = {w_out, b_out};
    for (const auto& [name, p] : params) all.push_back(p);
    return all;
  }

  // prediction [B, 1] = h_T @ w_out + b_out
  VarOr Predict(const Tensor& x) const {
    const int64_t B = x.dim(1);
    std::vector<Var> initial;
    for (size_t s = 0; s < cell.states.size(); ++s) {
      initial.push_back(Var::Constant(Tensor::Zeros({B, kHidden}, DType::kF32)));
    }
    absl::StatusOr<SequenceResult> run = RunSequence(cell, Var::Constant(x), initial, params);
    if (!run.ok()) return run.status();
    return MatMul(run->final_states[0], w_out) + b_out;
  }
};

absl::Status Run(int64_t steps, uint64_t seed) {
  GF_ASSIGN_OR_RETURN(Cell cell, BuiltinCell("lstm", 2, kHidden));
  Model model{cell, InitParams(cell, DType::kF32, seed),
              Var::Leaf(Tensor::Uniform({kHidden, 1}, DType::kF32, seed + 1, -0.25, 0.25), true),
              Var::Leaf(Tensor::Full({1}, DType::kF32, 1.0), true)};
  Adam adam(model.Parameters(), {.lr = 0.01});
  const AddingBatch test = MakeAddingBatch(kT, 512, seed + 99, DType::kF32);

  std::printf("tiny LSTM (H=%lld) on the adding problem, T=%lld, batch %lld, Adam lr 0.01\n",
              static_cast<long long>(kHidden), static_cast<long long>(kT),
              static_cast<long long>(kBatch));
  const auto start = std::chrono::steady_clock::now();
  double running = 0;
  for (int64_t step = 1; step <= steps; ++step) {
    const AddingBatch batch = MakeAddingBatch(kT, kBatch, seed * 100003 + step, DType::kF32);
    adam.ZeroGrad();
    GF_ASSIGN_OR_RETURN(Var loss, MeanSquaredError(model.Predict(batch.x),
                                                   Var::Constant(batch.target)));
    GF_RETURN_IF_ERROR(Backward(loss));
    GF_RETURN_IF_ERROR(ClipGradNorm(model.Parameters(), 1.0).status());
    GF_RETURN_IF_ERROR(adam.Step());
    running += loss.value().At(0);
    if (step % 50 == 0) {
      std::printf("step %4lld  train mse %.4f\n", static_cast<long long>(step), running / 50);
      running = 0;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  NoGradGuard no_grad;
  GF_ASSIGN_OR_RETURN(Var test_loss,
                      MeanSquaredError(model.Predict(test.x), Var::Constant(test.target)));
  std::printf("test mse %.4f  (predicting 1.0 always: %.4f)  %.0f sequences/s\n",
              test_loss.value().At(0), 1.0 / 6.0, steps * kBatch / seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace gatefuse

int main(int argc, char** argv) {
  auto args = gatefuse::cli::ParseArgs({argv + 1, argv + argc}, {"steps", "seed"}, {});
  if (!args.ok()) {
    std::fprintf(stderr, "tiny_lstm_demo: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  const auto steps = args->GetInt("steps", 600);
  const auto seed = args->GetInt("seed", 1);
  if (!steps.ok() || !seed.ok()) {
    std::fprintf(stderr, "tiny_lstm_demo: --steps and --seed take integers\n");
    return 2;
  }
  absl::Status s = gatefuse::Run(*steps, static_cast<uint64_t>(*seed));
  if (!s.ok()) {
    std::fprintf(stderr, "tiny_lstm_demo: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
