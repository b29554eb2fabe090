// Task models out as ONNX (models/tasks/task_model.h). The graph:
//
//   inputs   sentiment, lm: tokens int64 [T, B]; adding: x float [T, B, 2];
//            sequence_lens int32 [B], each sequence's real steps, pre-padded as
//            gatefuse pads (its steps are the last sequence_lens[b]; T for all)
//   tokens -> Gather(embedding.table)                                 [T, B, E]
//   ReverseSequence over T, then over sequence_lens: post-padded, as ONNX's
//     recurrent ops read it
//   each recurrent layer: one LSTM, GRU or RNN node (both directions in one node,
//     direction=bidirectional), Y [T, dirs, B, H] -> Transpose, Reshape  [T, B, dirs*H]
//   the last layer's Y_h [dirs, B, H] -> Transpose, Reshape              [B, dirs*H]
//   MatMul(dense.W), Add(dense.b)
//   outputs  sentiment: logit [B, 1], probability = Sigmoid(logit)
//            lm: logits [B, V], probabilities = Softmax(logits)
//            adding: prediction [B, 1]
//
// A recognised cell becomes ONNX's own node: lstm -> LSTM; peephole -> LSTM with P
// (order i, o, f); cifg -> LSTM with input_forget=1; gru -> GRU
// linear_before_reset=0; gru_lbr -> GRU linear_before_reset=1; rnn_tanh, rnn_relu
// -> RNN (activations Tanh or Relu). The weights are the fused cell's role values
// (evaluated from the layer's parameters: slices, sums and scalings included),
// transposed into ONNX's [gates*H, in] layout in ONNX's gate order; the biases go
// into the input half of B, bh_n into the recurrent half of GRU's h gate.
//
// Any other cell (mgu, a .cell or C++ cell, ln_lstm) becomes one Scan per layer and
// direction over the pre-padded sequence (models/onnx/onnx_export_internal.h): what
// depends only on parameters or on the input (the input projection) is computed
// once outside the loop; the body is the rest of the step's equations in ONNX ops,
// with a mask (1 at a sequence's real steps) that keeps the states at padded steps
// and zeroes the output there; the reverse direction scans backwards.
//
// Refused with a message naming what: an op of the cell with no ONNX form (named
// with its node), an opset outside 14..17, and a model the checker
// (onnx::checker::check_model) refuses.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_EXPORT_H_
#define GATEFUSE_MODELS_ONNX_ONNX_EXPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tasks/task_model.h"
#include "onnx/onnx_pb.h"

namespace gatefuse {

struct OnnxExportOptions {
  int64_t opset = 14;  // 14 to 17
};

absl::StatusOr<onnx::ModelProto> ExportTaskModel(const TaskModel& model,
                                                 const OnnxExportOptions& options = {});

// The exported graph's input name ("tokens" or "x") and output names, in order.
std::string ExportedInputName(const TaskModel& model);
std::vector<std::string> ExportedOutputNames(const TaskModel& model);

// What the exported graph computes, by gatefuse: `input` in the exported input's
// layout, `lengths` i64 [B] (undefined: all T), every output by name.
absl::StatusOr<std::map<std::string, Tensor>> ExportedOutputs(const TaskModel& model,
                                                              const Tensor& input,
                                                              const Tensor& lengths);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_EXPORT_H_
