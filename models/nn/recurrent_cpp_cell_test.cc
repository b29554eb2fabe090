// Cells written in C++ in the recurrent layer: traced and compiled like builtin and
// .cell cells (a custom one on the compiled plan, an LSTM however written fused),
// matching the cell run op by op on the tape; rebuilt from their stored step graphs
// alone; and every mistake in one refused with a message naming it.
#include <string>
#include <vector>

#include "core/compare.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/nn/cpp_cells_testing.h"
#include "models/nn/recurrent.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kT = 5, kB = 3, kI = 4, kH = 6;

struct CppCase {
  std::string name;
  CellSpec (*spec)();
  std::string path;  // the path the layer must take
};

class CppCellTest : public testing::TestWithParam<CppCase> {};

// The layer's outputs and every gradient equal the C++ cell's own step run op by op
// (RunSequence) with the layer's parameters.
TEST_P(CppCellTest, LayerMatchesTheCellOnTheTape) {
  const CppCase& c = GetParam();
  const CellSpec spec = c.spec();
  absl::StatusOr<Recurrent> rnn = Recurrent::Create(spec, {.input_size = kI, .hidden_size = kH}, 5);
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  EXPECT_EQ(rnn->path(0, 0).ToString(), c.path);
  EXPECT_EQ(rnn->cell(0).kind, spec.name);

  const Tensor x = Tensor::Uniform({kT, kB, kI}, DType::kF32, 3, -1, 1);
  const Tensor wy = Tensor::Uniform({kT, kB, kH}, DType::kF32, 4, -1, 1);
  Var xv = Var::Leaf(x, true);
  absl::StatusOr<RecurrentOutput> out = rnn->Forward(xv);
  ASSERT_TRUE(out.ok()) << out.status();
  VarOr loss = Sum(out->y * Var::Leaf(wy)) + Sum(out->last);
  ASSERT_TRUE(loss.ok()) << loss.status();
  ASSERT_TRUE(Backward(*loss).ok());

  // The same cell from the factory, on the tape, with copies of the layer's values.
  absl::StatusOr<Cell> cell = spec.factory(kI, kH);
  ASSERT_TRUE(cell.ok()) << cell.status();
  ParamMap params;
  for (const CellParam& p : cell->params) {
    params[p.name] = Var::Leaf(rnn->params().at("l0.fwd." + p.name).value().Clone(), true);
  }
  std::vector<Var> initial;
  for (size_t k = 0; k < cell->states.size(); ++k) {
    initial.push_back(Var::Constant(Tensor::Zeros({kB, kH}, DType::kF32)));
  }
  Var xt = Var::Leaf(x, true);
  absl::StatusOr<SequenceResult> tape = RunSequence(*cell, xt, initial, params);
  ASSERT_TRUE(tape.ok()) << tape.status();
  VarOr tape_loss = Sum(tape->y * Var::Leaf(wy)) + Sum(tape->final_states[0]);
  ASSERT_TRUE(tape_loss.ok());
  ASSERT_TRUE(Backward(*tape_loss).ok());

  EXPECT_LE(CompareTensors(out->y.value(), tape->y.value()).error, 1e-4);
  EXPECT_LE(CompareTensors(out->last.value(), tape->final_states[0].value()).error, 1e-4);
  EXPECT_LE(CompareTensors(xv.grad(), xt.grad()).error, 1e-4);
  for (const CellParam& p : cell->params) {
    const Var& layer_param = rnn->params().at("l0.fwd." + p.name);
    ASSERT_TRUE(layer_param.grad().defined()) << p.name;
    EXPECT_LE(CompareTensors(layer_param.grad(), params[p.name].grad()).error, 1e-4) << p.name;
  }
}

// A layer rebuilt from the stored step graphs alone (what a model file keeps, run
// by a binary without the C++ code) is the same layer: same path, same outputs.
TEST_P(CppCellTest, RebuiltFromItsGraphsIsTheSameLayer) {
  const CppCase& c = GetParam();
  const RecurrentOptions options{
      .input_size = kI, .hidden_size = kH, .num_layers = 3, .bidirectional = true};
  absl::StatusOr<Recurrent> rnn = Recurrent::Create(c.spec(), options, 9);
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  CellSpec stored;
  stored.name = rnn->spec().name;
  stored.graphs = {rnn->source_cell(0), rnn->source_cell(1)};
  absl::StatusOr<Recurrent> back = Recurrent::Create(stored, options, 9);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->PathLines(), rnn->PathLines());
  EXPECT_EQ(back->fusion(), rnn->fusion());
  ASSERT_EQ(back->params().size(), rnn->params().size());

  const Tensor x = Tensor::Uniform({kT, kB, kI}, DType::kF32, 6, -1, 1);
  Tensor lengths = Tensor::Empty({kB}, DType::kI64);
  for (int64_t b = 0; b < kB; ++b) lengths.data<int64_t>()[b] = kT - 2 * b;
  absl::StatusOr<RecurrentOutput> a = rnn->Forward(Var::Constant(x), lengths);
  absl::StatusOr<RecurrentOutput> b = back->Forward(Var::Constant(x), lengths);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(CompareTensors(a->y.value(), b->y.value()).error, 0);  // the same seed, the same code
}

INSTANTIATE_TEST_SUITE_P(
    Cells, CppCellTest,
    testing::Values(CppCase{"janet", &testing_cells::Janet, "compiled"},
                    CppCase{"concat_lstm", &testing_cells::ConcatLstm, "fused lstm"}),
    [](const testing::TestParamInfo<CppCase>& info) { return info.param.name; });

absl::Status CreateError(const CellSpec& spec) {
  return Recurrent::Create(spec, {.input_size = kI, .hidden_size = kH, .num_layers = 2}, 1)
      .status();
}

// A factory making the Janet cell with one thing changed.
CellSpec Broken(const std::string& name, std::function<void(int64_t, Cell&)> change) {
  return CellSpec::Cpp(name, [name, change](int64_t I, int64_t H) -> absl::StatusOr<Cell> {
    absl::StatusOr<Cell> cell = testing_cells::Janet().factory(I, H);
    if (!cell.ok()) return cell.status();
    cell->kind = name;
    change(I, *cell);
    return cell;
  });
}

TEST(CppCellErrorsTest, EachMistakeIsNamed) {
  EXPECT_THAT(CreateError(CellSpec::Cpp("", testing_cells::Janet().factory)).message(),
              HasSubstr("a C++ cell needs a name"));
  EXPECT_THAT(CreateError(CellSpec::Cpp("gru", testing_cells::Janet().factory)).message(),
              HasSubstr("has the name of a builtin kind"));
  EXPECT_THAT(CreateError(CellSpec::Cpp("mine", nullptr)).message(), HasSubstr("has no factory"));
  EXPECT_THAT(CreateError(CellSpec::Cpp("mine", [](int64_t, int64_t) -> absl::StatusOr<Cell> {
                return absl::InvalidArgumentError("sizes must be even");
              })).message(),
              HasSubstr("cell 'mine' (layer 0): sizes must be even"));
  EXPECT_THAT(CreateError(Broken("mine", [](int64_t I, Cell& c) { c.input_size = I + 1; }))
                  .message(),
              HasSubstr("the factory made a cell of input size 5"));
  EXPECT_THAT(CreateError(Broken("mine", [](int64_t, Cell& c) { c.kind = "other"; })).message(),
              HasSubstr("the factory's cell is named 'other'"));
  EXPECT_THAT(CreateError(Broken("mine", [](int64_t, Cell& c) {
                auto step = c.step;
                c.step = [step](const Var& x, const std::vector<Var>& s, const ParamMap& p)
                    -> absl::StatusOr<std::vector<Var>> {
                  GF_ASSIGN_OR_RETURN(std::vector<Var> next, step(x, s, p));
                  next.pop_back();
                  return next;
                };
              })).message(),
              HasSubstr("the step returned 1 states, the cell has 2 (h, c)"));
  EXPECT_THAT(CreateError(Broken("mine", [](int64_t, Cell& c) { c.step = nullptr; })).message(),
              HasSubstr("has no step function"));
  // An error inside the step (a shape mismatch) names the layer.
  EXPECT_THAT(CreateError(Broken("mine", [](int64_t, Cell& c) { c.params[0].shape = {3, 3}; }))
                  .message(),
              HasSubstr("cell 'mine' (layer 0)"));
}

TEST(CppCellErrorsTest, StoredGraphsMustFitTheLayer) {
  absl::StatusOr<Recurrent> rnn =
      Recurrent::Create(testing_cells::Janet(), {.input_size = kI, .hidden_size = kH}, 1);
  ASSERT_TRUE(rnn.ok()) << rnn.status();
  CellSpec stored;
  stored.name = "janet";
  stored.graphs = {rnn->source_cell(0)};
  EXPECT_THAT(Recurrent::Create(stored, {.input_size = kI, .hidden_size = kH, .num_layers = 2}, 1)
                  .status()
                  .message(),
              HasSubstr("no stored step graph for layers above the first"));
  EXPECT_THAT(
      Recurrent::Create(stored, {.input_size = kI + 1, .hidden_size = kH}, 1).status().message(),
      HasSubstr("takes inputs of 4 features, the layer gives 5"));
  EXPECT_THAT(Recurrent::Create(stored, {.input_size = kI, .hidden_size = kH, .dtype = DType::kF64},
                                1)
                  .status()
                  .message(),
              HasSubstr("the stored step graph is f32, the layer f64"));
}

}  // namespace
}  // namespace gatefuse
