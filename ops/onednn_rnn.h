// The oneDNN RNN backend: a whole sequence (all T steps, one layer, left to right)
// through one oneDNN RNN primitive, forward (inference or training) and backward.
//
// Callers speak in oneDNN's gate slots: the parameters come as one dense row-major
// f32 array per slot, and this unit packs them into the layout the primitive
// prefers (ldigo staging + reorder when the primitive chose another one):
//
//   RnnDims dims{RnnCell::kLstm, T, B, I, H};
//   RnnParams p;  p.w_layer = {Wi, Wf, Wg, Wo};  p.w_iter = {Ui, ...};  p.bias = {...};
//   RnnForward(dims, p, {x, h0, c0, y, hT, cT, workspace});   // y [T,B,H], hT, cT [B,H]
//
// Slot order (oneDNN's, see doc/primitives/rnn.md): LSTM i, f, c~, o (peepholes i, f, o);
// GRU and LBR-GRU u, r, o with h' = u h + (1 - u) o; the LBR-GRU bias has a fourth slot u'
// for the recurrent bias inside r * (U_o h + b_u'); vanilla RNN one slot.
//
// Primitive descriptors and primitives are cached per (cell, propagation, T, B, I,
// H); the packed parameters per plan by their RnnParams keys (the few most recent
// keys of each part), so the weights are packed again only when their keys change
// (or are empty): a training loop packs once per optimizer step and inference
// once. A packed part is never written after it is cached. RnnForward and
// RnnBackward are reentrant: calls on one plan from several threads run at once,
// each with its own memory objects, scratchpad (the thread's), stream (the
// thread's) and diff buffers; locks guard only the caches' lookups and
// insertions. dnnl::error comes back as an Internal Status.
#ifndef GATEFUSE_OPS_ONEDNN_RNN_H_
#define GATEFUSE_OPS_ONEDNN_RNN_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace gatefuse::onednn {

enum class RnnCell { kRnnTanh, kRnnRelu, kLstm, kPeepholeLstm, kGru, kLbrGru };

// Gate slots of the weights (G), of the bias (G, or G + 1 for LBR-GRU), whether the
// cell has a cell state c and peephole weights (3 slots: i, f, o).
int NumGates(RnnCell cell);
int NumBiasSlots(RnnCell cell);
bool HasCellState(RnnCell cell);
bool HasPeepholes(RnnCell cell);

struct RnnDims {
  RnnCell cell;
  int64_t T, B, I, H;
};

// Parameters in slot order: w_layer[g] is [I, H] (x @ w_layer[g]), w_iter[g] is
// [H, H], bias[k] and peephole[k] are [H]; a null bias or peephole is zero.
struct RnnParams {
  std::vector<const float*> w_layer, w_iter, bias, peephole;
  // Identify the contents of each part (e.g. its tensors' write stamps and
  // offsets): the input weights, the recurrent weights, and the bias with the
  // peepholes. A part whose key is non-empty and equal to the last call's keeps
  // what was packed then (a GRU's summed biases may be new every call while its
  // weights are not). Empty: always packed.
  std::vector<uint64_t> w_layer_key, w_iter_key, bias_key;
  // Slots packed negated (w_layer, w_iter and bias alike), by slot index; empty: none.
  // CIFG runs on the LSTM primitive with slot f = -(slot i): σ(-a) = 1 - σ(a).
  std::vector<bool> negated;
};

// Gradients in the same slots; a null entry is not written.
struct RnnParamGrads {
  std::vector<float*> w_layer, w_iter, bias, peephole;
};

// Sequences are [T, B, *] and states [B, H], all dense; c0/cT only with a cell state.
struct RnnForwardArgs {
  const float* x;
  const float* h0;
  const float* c0;
  float* y;
  float* hT;
  float* cT;
  // RnnWorkspaceBytes(dims) bytes for forward training; null for inference.
  void* workspace;
};

struct RnnBackwardArgs {
  const float *x, *h0, *c0, *y, *hT, *cT;
  // A forward-training workspace of the same dims. The backward primitive works in
  // it, so it is spent afterwards: a second backward needs a new forward run.
  void* workspace;
  const float *dy, *dhT, *dcT;
  float *dx, *dh0, *dc0;
};

// The size of the workspace a forward-training run of `dims` writes.
absl::StatusOr<int64_t> RnnWorkspaceBytes(const RnnDims& dims);

absl::Status RnnForward(const RnnDims& dims, const RnnParams& params, const RnnForwardArgs& args);

// Gradients of all inputs and parameters (overwritten, not accumulated).
absl::Status RnnBackward(const RnnDims& dims, const RnnParams& params, const RnnBackwardArgs& args,
                         const RnnParamGrads& grads);

// The primitive descriptors RnnForward and RnnBackward run, for callers that drive
// the primitive themselves (the benchmark's direct row). `backward` is empty unless
// `training`.
struct RnnPrimitiveDescs {
  dnnl::rnn_primitive_desc_base forward, backward;
};
absl::StatusOr<RnnPrimitiveDescs> MakeRnnPrimitiveDescs(const RnnDims& dims, bool training);

}  // namespace gatefuse::onednn

#endif  // GATEFUSE_OPS_ONEDNN_RNN_H_
