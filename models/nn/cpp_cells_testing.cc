#include "models/nn/cpp_cells_testing.h"

#include "core/status.h"
#include "ops/ops.h"

namespace gatefuse::testing_cells {

CellSpec Janet() {
  return CellSpec::Cpp("janet", [](int64_t I, int64_t H) -> absl::StatusOr<Cell> {
    Cell cell{.kind = "janet", .input_size = I, .hidden_size = H, .states = {"h", "c"}};
    cell.params = {{"Wf", {I, H}}, {"Wg", {I, H}}, {"Uf", {H, H}},
                   {"Ug", {H, H}}, {"bf", {H}},    {"bg", {H}}};
    cell.step = [](const Var& x, const std::vector<Var>& s,
                   const ParamMap& p) -> absl::StatusOr<std::vector<Var>> {
      const Var &h = s[0], &c = s[1];
      GF_ASSIGN_OR_RETURN(Var f, Sigmoid(MatMul(x, p.at("Wf")) + MatMul(h, p.at("Uf")) + p.at("bf")));
      GF_ASSIGN_OR_RETURN(Var g, Tanh(MatMul(x, p.at("Wg")) + MatMul(h, p.at("Ug")) + p.at("bg")));
      GF_ASSIGN_OR_RETURN(Var c2, f * c + (1.0 - f) * g);
      GF_ASSIGN_OR_RETURN(Var h2, Tanh(c2));
      return std::vector<Var>{h2, c2};
    };
    return cell;
  });
}

CellSpec ConcatLstm() {
  return CellSpec::Cpp("concat_lstm", [](int64_t I, int64_t H) -> absl::StatusOr<Cell> {
    Cell cell{.kind = "concat_lstm", .input_size = I, .hidden_size = H, .states = {"h", "c"}};
    cell.params = {{"W", {I + H, 4 * H}}, {"b", {4 * H}}};
    cell.step = [H](const Var& x, const std::vector<Var>& s,
                    const ParamMap& p) -> absl::StatusOr<std::vector<Var>> {
      const Var &h = s[0], &c = s[1];
      GF_ASSIGN_OR_RETURN(Var z, MatMul(Concat({x, h}, 1), p.at("W")) + p.at("b"));
      auto gate = [&](int k) { return Slice(z, 1, k * H, (k + 1) * H); };
      GF_ASSIGN_OR_RETURN(Var i, Sigmoid(gate(0)));
      GF_ASSIGN_OR_RETURN(Var f, Sigmoid(gate(1)));
      GF_ASSIGN_OR_RETURN(Var g, Tanh(gate(2)));
      GF_ASSIGN_OR_RETURN(Var o, Sigmoid(gate(3)));
      GF_ASSIGN_OR_RETURN(Var c2, f * c + i * g);
      GF_ASSIGN_OR_RETURN(Var h2, o * Tanh(c2));
      return std::vector<Var>{h2, c2};
    };
    return cell;
  });
}

}  // namespace gatefuse::testing_cells
