// Recurrent: a recurrent layer around any cell (builtin, .cell file, C++), stacked and
// bidirectional, over batches of sequences of different lengths.
//
//   GF_ASSIGN_OR_RETURN(CellSpec spec, CellSpecFromFlag("lstm"));   // or "my.cell"
//   GF_ASSIGN_OR_RETURN(Recurrent rnn, Recurrent::Create(spec, {.input_size = 64,
//                           .hidden_size = 128, .num_layers = 2, .bidirectional = true}, seed));
//   GF_ASSIGN_OR_RETURN(RecurrentOutput out, rnn.Forward(x, lengths));  // x [T, B, 64]
//   // out.y [T, B, 256], out.last [B, 256]; rnn.params() are the leaves to train
//
// Each (layer, direction) has its own cell, compiled once by the standard passes:
// a recognised cell in f32 runs each sequence as one fused oneDNN primitive, any
// other through the executor's sequence path.
//
// Lengths: sequences are pre-padded ('pre' padding, models/data/batching.h), so
// sequence b's real steps are the last lengths[b] of the T. A padded step leaves
// the state unchanged (it stays the initial zero state) and has output zero; the
// result for each sequence is the one it would get alone, unpadded. The reverse
// direction reads each sequence's real steps last to first.
#ifndef GATEFUSE_MODELS_NN_RECURRENT_H_
#define GATEFUSE_MODELS_NN_RECURRENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "models/cells/cell.h"

namespace gatefuse {

// A cell written in C++: the Cell (states, parameters, step) for one layer's sizes.
// Each layer has its own input size (the first the layer's, the others the output
// size of the layer below), so the recurrent layer asks once per layer.
using CellFactory =
    std::function<absl::StatusOr<Cell>(int64_t input_size, int64_t hidden_size)>;

// Where a cell comes from: a builtin kind, the text of a .cell file, a C++ cell, or
// the traced step graphs of one (what a model file made with a C++ cell keeps, so a
// binary without that C++ code runs it). Every kind is traced or compiled to a step
// graph, then recognised and fused or compiled alike.
//
//   CellSpec spec = CellSpec::Cpp("janet", [](int64_t I, int64_t H) -> absl::StatusOr<Cell> {
//     Cell c{.kind = "janet", .input_size = I, .hidden_size = H, .states = {"h"}};
//     c.params = {{"Wf", {I, H}}, {"Uf", {H, H}}, {"bf", {H}}, ...};
//     c.step = [](const Var& x, const std::vector<Var>& s, const ParamMap& p) { ... };
//     return c;
//   });
struct CellSpec {
  std::string builtin;        // e.g. "lstm"; empty otherwise
  std::string cell_text;      // the .cell source
  std::string cell_filename;  // for error messages
  // A C++ cell or stored graphs: the cell's name (its graphs are named after it).
  std::string name;
  CellFactory factory;  // a C++ cell
  // A cell known by its unfused step graphs alone: graphs[0] for the first layer,
  // graphs[1] (when there is more than one layer) for the layers above it.
  std::vector<Graph> graphs;

  // Recurrent::Create refuses (InvalidArgument) an empty name, a builtin kind's
  // name (a saved file would read as that kind) and a missing factory.
  static CellSpec Cpp(std::string name, CellFactory factory);
  // The name users see: the builtin kind, the .cell's file name or the C++ cell's name.
  std::string DisplayName() const;
};

// "lstm" (a builtin kind) or a path ending in ".cell" (read now). InvalidArgument
// naming the flag and the builtin kinds otherwise; NotFound for a missing file.
absl::StatusOr<CellSpec> CellSpecFromFlag(const std::string& flag);

struct RecurrentOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int num_layers = 1;
  bool bidirectional = false;
  // How the two directions' outputs combine: "concat" ([.., 2H]) or "sum" ([.., H]).
  std::string merge = "concat";
  // False: the cells are compiled without recognition (never fused), for comparison.
  bool recognize = true;
  DType dtype = DType::kF32;
};

struct RecurrentOutput {
  Var y;     // [T, B, D]: the last layer's outputs (zero at padded steps)
  Var last;  // [B, D]: the last layer's final h (the reverse direction's: after its
             // last step, i.e. the sequence's first real token)
};

class Recurrent {
 public:
  // Parameters are initialised from `seed` (InitParams per cell, seed + index).
  static absl::StatusOr<Recurrent> Create(const CellSpec& spec, const RecurrentOptions& options,
                                          uint64_t seed);

  // x [T, B, input_size] of the options' dtype; lengths i64 [B] with values in
  // [0, T], or an undefined Tensor when every sequence has all T steps.
  absl::StatusOr<RecurrentOutput> Forward(const Var& x, const Tensor& lengths = Tensor()) const;

  // The leaves to train, by qualified name "l<layer>.<fwd|bwd>.<param>".
  const std::map<std::string, Var>& params() const { return params_; }
  std::vector<Var> ParamList() const;

  const RecurrentOptions& options() const { return options_; }
  const CellSpec& spec() const { return spec_; }
  // D: hidden_size, or 2 * hidden_size for concatenated directions.
  int64_t output_size() const;
  // The fused kernel the compiler chose ("lstm", "gru", ... or "custom" when the
  // cell matched no pattern); the same for every layer.
  const std::string& fusion() const { return fusion_; }
  // How each (layer, direction) runs (graph/executor.h ChooseSequencePath), decided
  // once at creation; direction 0 is forward, 1 reverse.
  const SequencePath& path(int layer, int direction) const {
    return layers_[layer].directions[direction].path;
  }
  // The `path: ...` lines every command prints: one line when every (layer,
  // direction) runs the same way, else one per (layer, direction), e.g.
  // "path: fused lstm (l1.bwd)".
  std::vector<std::string> PathLines() const;
  // The cell (state names, parameter shapes) of one layer.
  const Cell& cell(int layer) const { return layers_[layer].cell; }
  // One layer's cell graph as traced from its equations (unfused), and after the
  // standard passes (the same for both directions).
  const Graph& source_cell(int layer) const { return layers_[layer].source; }
  const Graph& compiled_cell(int layer) const { return layers_[layer].directions[0].compiled; }

 private:
  struct Direction {
    Graph compiled;                     // after the standard passes
    std::map<std::string, Var> params;  // by the cell's own parameter names
    SequencePath path;
  };
  struct Layer {
    Cell cell;
    Graph source;                       // traced, before the passes
    std::vector<Direction> directions;  // forward, then reverse if bidirectional
  };

  absl::StatusOr<Var> RunDirection(const Layer& layer, const Direction& dir, const Var& x,
                                   const Tensor& lengths, bool reverse, Var* last) const;

  CellSpec spec_;
  RecurrentOptions options_;
  std::string fusion_;
  std::vector<Layer> layers_;
  std::map<std::string, Var> params_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_NN_RECURRENT_H_
