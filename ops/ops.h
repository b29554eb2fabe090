// The generic ops on Vars. Each takes and returns VarOr, so equations read as
// written and the first error (a shape mismatch, say) comes out at the end:
//
//   VarOr i = Sigmoid(MatMul(x, Wi) + MatMul(h, Ui) + bi);
//   VarOr c2 = f * c + i * g;
//
// Binary elementwise ops broadcast like numpy. Every op is defined, with its
// shape function, kernel and gradient rule, in one of the files beside this one.
#ifndef GATEFUSE_OPS_OPS_H_
#define GATEFUSE_OPS_OPS_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace gatefuse {

// ---- elementwise (elementwise.cc) ----
VarOr Add(const VarOr& a, const VarOr& b);
VarOr AddN(const std::vector<VarOr>& xs);  // x_0 + x_1 + ..., broadcasting
VarOr Sub(const VarOr& a, const VarOr& b);
VarOr Mul(const VarOr& a, const VarOr& b);
VarOr Div(const VarOr& a, const VarOr& b);
// Elementwise min and max, broadcasting; at a tie the gradient goes to a.
VarOr Min(const VarOr& a, const VarOr& b);
VarOr Max(const VarOr& a, const VarOr& b);
VarOr Neg(const VarOr& x);
VarOr AddScalar(const VarOr& x, double s);   // x + s
VarOr MulScalar(const VarOr& x, double s);   // x * s
VarOr RSubScalar(double s, const VarOr& x);  // s - x
VarOr Sigmoid(const VarOr& x);
VarOr Tanh(const VarOr& x);
VarOr Relu(const VarOr& x);
VarOr Step(const VarOr& x);  // 1 where x > 0, else 0 (the derivative of Relu)
VarOr Exp(const VarOr& x);
VarOr Log(const VarOr& x);
// The activations of ONNX's RNN operators, with ONNX's defaults.
VarOr LeakyRelu(const VarOr& x, double alpha = 0.01);        // x >= 0 ? x : alpha x
VarOr ThresholdedRelu(const VarOr& x, double alpha = 1.0);  // x > alpha ? x : 0
VarOr Elu(const VarOr& x, double alpha = 1.0);              // x >= 0 ? x : alpha (e^x - 1)
VarOr Softsign(const VarOr& x);                             // x / (1 + |x|)
VarOr Softplus(const VarOr& x);  // log(1 + e^x), without overflow for any x
VarOr HardSigmoid(const VarOr& x, double alpha = 0.2, double beta = 0.5);  // clip(a x + b, 0, 1)
VarOr Clip(const VarOr& x, double lo, double hi);  // min(max(x, lo), hi): hi where lo > hi
VarOr Abs(const VarOr& x);
VarOr Sqrt(const VarOr& x);
// Repeats x along broadcast axes to `shape`, and its adjoint: sums x down to `shape`.
VarOr BroadcastTo(const VarOr& x, const Shape& shape);
VarOr SumTo(const VarOr& x, const Shape& shape);

VarOr operator+(const VarOr& a, const VarOr& b);
VarOr operator-(const VarOr& a, const VarOr& b);
VarOr operator*(const VarOr& a, const VarOr& b);
VarOr operator/(const VarOr& a, const VarOr& b);
VarOr operator-(const VarOr& x);
VarOr operator+(const VarOr& x, double s);
VarOr operator+(double s, const VarOr& x);
VarOr operator-(const VarOr& x, double s);
VarOr operator-(double s, const VarOr& x);
VarOr operator*(const VarOr& x, double s);
VarOr operator*(double s, const VarOr& x);
VarOr operator/(const VarOr& x, double s);

// ---- matmul (matmul.cc): a [M,K] @ b [K,N]; transposes read a as [K,M], b as [N,K] ----
VarOr MatMul(const VarOr& a, const VarOr& b, bool transpose_a = false, bool transpose_b = false);

// ---- shapes (shape_ops.cc) ----
VarOr Concat(const std::vector<VarOr>& xs, int64_t axis);
VarOr Slice(const VarOr& x, int64_t axis, int64_t start, int64_t end);
// n equal parts along `axis` (each a Slice).
absl::StatusOr<std::vector<Var>> Split(const VarOr& x, int64_t n, int64_t axis);
VarOr Reshape(const VarOr& x, const Shape& shape);  // one dim may be -1
VarOr Transpose(const VarOr& x, const std::vector<int64_t>& perm);

// ---- reductions (reduce.cc); empty `axes` means all axes ----
VarOr Sum(const VarOr& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
VarOr Mean(const VarOr& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
VarOr Softmax(const VarOr& x, int64_t axis = -1);
VarOr LogSoftmax(const VarOr& x, int64_t axis = -1);

// ---- neural-network ops (nn.cc) ----
// table [V, D], indices i64 of any shape -> [indices..., D].
VarOr Embedding(const VarOr& table, const VarOr& indices);
// The adjoint of Embedding: scatter-adds rows of g [indices..., D] into [num_rows, D].
VarOr EmbeddingGrad(const VarOr& g, const VarOr& indices, int64_t num_rows);
// labels i64 [N] -> f [N, depth] with ones at the labels.
VarOr OneHot(const VarOr& labels, int64_t depth, DType dtype);
// Mean over N of -log softmax(logits [N, C])[label]; labels i64 [N].
VarOr SparseSoftmaxCrossEntropy(const VarOr& logits, const VarOr& labels);
// Mean of the binary cross-entropy of sigmoid(logits) against targets in [0, 1].
VarOr BinaryCrossEntropyWithLogits(const VarOr& logits, const VarOr& targets);
// Mean of (a - b)^2.
VarOr MeanSquaredError(const VarOr& a, const VarOr& b);
// Zeroes each element with probability `rate` and scales the rest by 1/(1-rate);
// the mask is a pure function of (seed, element index). Identity if !training.
VarOr Dropout(const VarOr& x, double rate, uint64_t seed, bool training = true);

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_OPS_H_
