#include "graph/compiled_sequence.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <sys/mman.h>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/compiled_gemm_placement.h"
#include "graph/compiled_plan.h"
#include "graph/compiled_pointwise.h"
#include "graph/text.h"
#include "ops/onednn.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using compiled::AccumulatorDef;
using compiled::BoundaryDef;
using compiled::BufferDef;
using compiled::BufferKind;
using compiled::GemmDef;
using compiled::GroupDef;
using compiled::OperandDef;
using compiled::Region;
using compiled::Structure;
using compiled::StructureOf;
using compiled::Workspace;

constexpr char kOpName[] = "CompiledSequence";
constexpr char kGradOpName[] = "CompiledSequenceGrad";


// A GEMM call site of a plan: the backend's cached primitive of its shape, found
// once when the plan is laid out. Below ~4 MFLOP (a per-step GEMM of a small
// layer) one thread is faster than waking a second one.
absl::StatusOr<onednn::MatMulPrimitive> MakeGemm(int64_t m, int64_t k, int64_t n, int64_t lda,
                                                 int64_t ldb, int64_t ldc, bool ta, bool tb,
                                                 bool accumulate) {
  onednn::MatMulShape s;
  s.m = m;
  s.k = k;
  s.n = n;
  s.lda = lda;
  s.ldb = ldb;
  s.ldc = ldc;
  s.transpose_a = ta;
  s.transpose_b = tb;
  s.accumulate = accumulate;
  s.threads = m * k * n < (int64_t{1} << 21) ? 1 : 0;
  return onednn::MatMulPrimitive::Get(s);
}

// Asks the kernel for 2 MiB pages over a large fresh arena: one page fault per
// 2 MiB instead of per 4 KiB (an LSTM at T=100, B=64, H=512 keeps ~130 MB). Advice
// only; where it is refused nothing changes.
void PreferHugePages(void* data, int64_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t p = reinterpret_cast<uintptr_t>(data);
  const uintptr_t begin = (p + kHuge - 1) & ~(kHuge - 1), end = (p + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// ---------------------------------------------------------------------------
// A plan: the structure at one (T, B), with its buffers laid out, its GEMM call
// sites resolved and its two tape ops.

class Plan;

class SequenceOp : public TapeOp {
 public:
  explicit SequenceOp(const Plan* plan) : plan_(plan) {}
  const std::string& name() const override {
    static const std::string* n = new std::string(kOpName);
    return *n;
  }
  absl::StatusOr<std::vector<Var>> Gradient(const GradContext& ctx) const override;

 private:
  const Plan* plan_;
};

class SequenceGradOp : public TapeOp {
 public:
  const std::string& name() const override {
    static const std::string* n = new std::string(kGradOpName);
    return *n;
  }
  absl::StatusOr<std::vector<Var>> Gradient(const GradContext&) const override {
    return absl::FailedPreconditionError(
        absl::StrCat("op ", kGradOpName,
                     " has no gradient: it is the hand-derived backward pass of a compiled "
                     "sequence; for second derivatives run the cell op by op"));
  }
};

struct GemmSites {
  std::optional<onednn::MatMulPrimitive> forward, backward_data, backward_weight;
  // Of a per-step GEMM: where its weight (forward) and op(W)^T (backward) are read
  // from, in floats past a 64-byte boundary (graph/compiled_gemm_placement.h).
  int64_t weight_offset = 0, weight_t_offset = 0;
};

class Plan {
 public:
  static absl::StatusOr<std::unique_ptr<Plan>> Make(std::shared_ptr<const Structure> s,
                                                    int64_t T, int64_t B) {
    auto p = std::unique_ptr<Plan>(new Plan(std::move(s), T, B));
    GF_RETURN_IF_ERROR(p->Resolve());
    return p;
  }

  const Structure& structure() const { return *s_; }
  const TapeOp* op() const { return &op_; }
  const TapeOp* grad_op() const { return &grad_op_; }
  int64_t saved_floats() const { return saved_floats_; }

  // Outputs: y [T, B, H0] and the final states, views of one arena that holds
  // every value backward reads.
  absl::StatusOr<std::vector<Tensor>> Forward(const std::vector<Tensor>& in) const;
  // Gradients of every input, from the inputs, the outputs and their gradients.
  absl::StatusOr<std::vector<Tensor>> Backward(const std::vector<Tensor>& in,
                                               const std::vector<Tensor>& out,
                                               const std::vector<Tensor>& out_grads) const;

 private:
  Plan(std::shared_ptr<const Structure> s, int64_t T, int64_t B)
      : s_(std::move(s)), T_(T), B_(B), op_(this) {}

  int64_t Blocks(int buffer) const {
    return s_->buffers[buffer].kind == BufferKind::kState ? T_ + 1 : T_;
  }

  absl::Status Resolve() {
    const Structure& s = *s_;
    offset_.assign(s.buffers.size(), 0);
    for (size_t b = 1; b < s.buffers.size(); ++b) {
      offset_[b] = saved_floats_;
      saved_floats_ += Blocks(b) * B_ * s.buffers[b].cols;
    }
    for (const AccumulatorDef& a : s.accumulators) {
      accumulator_offset_.push_back(accumulator_floats_);
      accumulator_floats_ += a.width;
    }
    for (const GemmDef& g : s.gemms) {
      const int64_t lda = s.buffers[g.lhs.buffer].cols, ldz = g.N;
      const int64_t ldw = g.transpose_b ? g.K : g.N;
      const int64_t rows = g.hoisted ? T_ * B_ : B_;
      GemmSites site;
      GF_ASSIGN_OR_RETURN(site.forward,
                          MakeGemm(rows, g.K, g.N, lda, ldw, ldz, false, g.transpose_b, false));
      // dlhs += dZ op(W)^T, with op(W)^T [N, K] dense: W^T stored as given, or W
      // transposed once per backward pass (a transposed weight operand makes
      // oneDNN's GEMM markedly slower at these shapes).
      GF_ASSIGN_OR_RETURN(site.backward_data,
                          MakeGemm(rows, g.N, g.K, ldz, g.K, lda, false, false, true));
      // dW += lhs^T dZ over all T*B rows (or dW^T += dZ^T lhs).
      if (g.transpose_b) {
        GF_ASSIGN_OR_RETURN(site.backward_weight,
                            MakeGemm(g.N, T_ * B_, g.K, ldz, lda, g.K, true, false, true));
      } else {
        GF_ASSIGN_OR_RETURN(site.backward_weight,
                            MakeGemm(g.K, T_ * B_, g.N, lda, ldz, g.N, true, false, true));
      }
      if (!g.hoisted) {
        GF_ASSIGN_OR_RETURN(site.weight_offset, compiled::WeightOffset(*site.forward));
        GF_ASSIGN_OR_RETURN(site.weight_t_offset, compiled::WeightOffset(*site.backward_data));
      }
      gemms_.push_back(site);
    }
    for (const GroupDef& g : s.groups) {
      max_operands_ =
          std::max({max_operands_, g.forward_operands.size(), g.backward_operands.size()});
    }
    return absl::OkStatus();
  }

  // Base of a region at step t in an arena of [blocks, B, cols] buffers (x: `x`).
  float* At(float* arena, float* x, const Region& r, int64_t t) const {
    float* base = r.buffer == 0 ? x : arena + offset_[r.buffer];
    return base + ((t + r.dt) * B_) * s_->buffers[r.buffer].cols + r.col;
  }
  int64_t Ld(const Region& r) const { return s_->buffers[r.buffer].cols; }

  const float* Weight(const std::vector<Tensor>& in, int boundary) const {
    return in[1 + s_->sig.states.size() + boundary].data<float>();
  }

  // The operands of one group at step t, into `operands` (one call's own).
  // (A call's accumulators: one row per thread, `threads` of them, after the
  // adjoints of the buffers.)
  void ResolveOperands(const std::vector<OperandDef>& defs, const std::vector<Tensor>& in,
                       float* arena, float* x, float* adjoint, float* dx, int64_t t,
                       int64_t threads, pointwise::Operand* operands) const {
    for (size_t k = 0; k < defs.size(); ++k) {
      const OperandDef& d = defs[k];
      pointwise::Operand& o = operands[k];
      switch (d.kind) {
        case OperandDef::kRegion:
          o = {At(arena, x, d.region, t), Ld(d.region), d.column_broadcast ? 0 : 1};
          break;
        case OperandDef::kAdjoint:
          o = {At(adjoint, dx, d.region, t), Ld(d.region), d.column_broadcast ? 0 : 1};
          break;
        case OperandDef::kBroadcast: {
          const Tensor& b = in[1 + s_->sig.states.size() + d.boundary];
          o = {const_cast<float*>(b.data<float>()), 0, b.num_elements() == 1 ? 0 : 1};
          break;
        }
        case OperandDef::kAccumulator:
          o = {adjoint + saved_floats_ + threads * accumulator_offset_[d.accumulator], 0, 1,
               s_->accumulators[d.accumulator].width};
          break;
      }
    }
  }

  std::shared_ptr<const Structure> s_;
  int64_t T_, B_;
  SequenceOp op_;
  SequenceGradOp grad_op_;
  std::vector<int64_t> offset_;  // per buffer, in the saved (and adjoint) arena
  std::vector<int64_t> accumulator_offset_;  // in floats per thread
  int64_t saved_floats_ = 0, accumulator_floats_ = 0;
  std::vector<GemmSites> gemms_;  // reentrant: MatMulPrimitive::Run binds per thread
  size_t max_operands_ = 0;       // of any group: the size of a call's operand array
};

// A call's operand array: on the stack for the usual handful, so a run allocates
// nothing per step (and nothing per call up to 32 operands).
using Operands = absl::InlinedVector<pointwise::Operand, 32>;

// The backward scratch (adjoint arena, transposed weights) checked out of the
// structure's Workspace for one call: the lock is held to take it and to give it
// back, never while computing. A call that finds it taken (another thread's
// backward is running) makes its own, and the larger of the two is kept.
class ScratchCheckout {
 public:
  explicit ScratchCheckout(Workspace& ws) : ws_(ws) {
    std::lock_guard<std::mutex> lock(ws_.mu);
    adjoint = std::move(ws_.adjoint);
    transposed = std::move(ws_.transposed);
    ws_.adjoint = Tensor();
    ws_.transposed.clear();
  }
  ~ScratchCheckout() {
    std::lock_guard<std::mutex> lock(ws_.mu);
    if (adjoint.defined() && (!ws_.adjoint.defined() ||
                              ws_.adjoint.num_elements() < adjoint.num_elements())) {
      ws_.adjoint = std::move(adjoint);
    }
    if (ws_.transposed.empty()) ws_.transposed = std::move(transposed);
  }
  ScratchCheckout(const ScratchCheckout&) = delete;
  ScratchCheckout& operator=(const ScratchCheckout&) = delete;

  Tensor adjoint;
  std::vector<Tensor> transposed;

 private:
  Workspace& ws_;
};

absl::StatusOr<std::vector<Tensor>> Plan::Forward(const std::vector<Tensor>& in) const {
  const Structure& s = *s_;
  Operands operands(max_operands_);
  const size_t n_states = s.sig.states.size();
  Tensor saved = Tensor::Empty({saved_floats_}, DType::kF32);
  float* arena = saved.data<float>();
  PreferHugePages(arena, saved_floats_ * sizeof(float));
  float* x = const_cast<float*>(in[0].data<float>());
  for (size_t k = 0; k < n_states; ++k) {
    const Region r{s.state_buffer[k], 0, 0, s.state_width[k]};
    std::memcpy(At(arena, x, r, 0), in[1 + k].data<float>(), B_ * s.state_width[k] * 4);
  }
  // The weights, each where its GEMM reads it fastest (a copy for this call).
  std::vector<Tensor> placed(s.gemms.size());
  std::vector<const float*> weight(s.gemms.size());
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    weight[k] = Weight(in, g.weight);
    const int64_t off = gemms_[k].weight_offset;
    if (off == 0) continue;
    placed[k] = Tensor::Empty({g.K * g.N + off}, DType::kF32);
    float* w = placed[k].data<float>() + off;
    std::memcpy(w, weight[k], g.K * g.N * sizeof(float));
    weight[k] = w;
  }
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    if (!g.hoisted) continue;
    GF_RETURN_IF_ERROR(gemms_[k].forward->Run(At(arena, x, g.lhs, 0), weight[k],
                                             arena + offset_[g.out_buffer]));
  }
  for (int64_t t = 0; t < T_; ++t) {
    for (int level = 1; level <= s.max_level; ++level) {
      for (size_t k = 0; k < s.gemms.size(); ++k) {
        const GemmDef& g = s.gemms[k];
        if (g.hoisted || g.level != level) continue;
        GF_RETURN_IF_ERROR(gemms_[k].forward->Run(At(arena, x, g.lhs, t), weight[k],
                                                 At(arena, x, {g.out_buffer, 0, 0, g.N}, t)));
      }
      for (const GroupDef& group : s.groups) {
        if (group.level != level) continue;
        ResolveOperands(group.forward_operands, in, arena, x, nullptr, nullptr, t, 0,
                        operands.data());
        pointwise::Run(group.forward, B_, operands.data());
      }
    }
  }
  // y is the first state's history after every step; the final states its last block.
  std::vector<Tensor> out;
  const int64_t h0 = s.state_width[0];
  GF_ASSIGN_OR_RETURN(Tensor y, saved.Slice(0, offset_[s.state_buffer[0]] + B_ * h0,
                                            offset_[s.state_buffer[0]] + (T_ + 1) * B_ * h0));
  GF_ASSIGN_OR_RETURN(y, y.Reshape({T_, B_, h0}));
  out.push_back(y);
  for (size_t k = 0; k < n_states; ++k) {
    const int64_t h = s.state_width[k], end = offset_[s.state_buffer[k]] + (T_ + 1) * B_ * h;
    GF_ASSIGN_OR_RETURN(Tensor last, saved.Slice(0, end - B_ * h, end));
    GF_ASSIGN_OR_RETURN(last, last.Reshape({B_, h}));
    out.push_back(last);
  }
  // `saved` itself is no output: the views keep it alive for the gradient rule,
  // and the tape does not build a zero gradient of its size.
  return out;
}

absl::StatusOr<std::vector<Tensor>> Plan::Backward(const std::vector<Tensor>& in,
                                                   const std::vector<Tensor>& out,
                                                   const std::vector<Tensor>& out_grads) const {
  const Structure& s = *s_;
  const size_t n_states = s.sig.states.size();
  Operands operands(max_operands_);
  // y is a view of the saved arena, starting after block 0 of state 0's history
  // (buffer 1, at offset 0): the arena starts B * H0 floats before it.
  float* arena = const_cast<float*>(out[0].data<float>()) - B_ * s.state_width[0];
  float* x = const_cast<float*>(in[0].data<float>());
  // The adjoints live in one arena kept across calls (fresh pages would cost a page
  // fault each). Checked out for this call, so concurrent backward passes never
  // share it.
  ScratchCheckout ws(*s.workspace);
  // The sums of the broadcast values' adjoints, one row per thread of the passes.
  const int64_t threads = pointwise::Threads();
  const int64_t adjoint_floats = saved_floats_ + threads * accumulator_floats_;
  if (!ws.adjoint.defined() || ws.adjoint.num_elements() < adjoint_floats) {
    ws.adjoint = Tensor::Empty({adjoint_floats}, DType::kF32);
    PreferHugePages(ws.adjoint.raw_data(), adjoint_floats * sizeof(float));
  }
  if (ws.transposed.empty()) {
    for (const GemmDef& g : s.gemms) {
      ws.transposed.push_back(
          Tensor::Empty({g.N * g.K + compiled::kMaxWeightOffset}, DType::kF32));
    }
  }
  float* adjoint = ws.adjoint.data<float>();
  // Zeroed where writes accumulate: not a GEMM output whose adjoint its one reader
  // stores (BufferDef::stored_adjoint), nor state 0's blocks 1..T, which dy fills.
  for (size_t b = 1; b < s.buffers.size(); ++b) {
    if (s.buffers[b].stored_adjoint) continue;
    const bool y = static_cast<int>(b) == s.state_buffer[0];
    const int64_t blocks = y ? 1 : Blocks(b);
    std::memset(adjoint + offset_[b], 0, blocks * B_ * s.buffers[b].cols * sizeof(float));
  }
  std::memset(adjoint + saved_floats_, 0, threads * accumulator_floats_ * sizeof(float));
  std::vector<Tensor> grads;
  for (const Tensor& t : in) grads.push_back(Tensor::Zeros(t.shape(), DType::kF32));
  float* dx = grads[0].data<float>();
  // d(history block t + 1 of state 0) starts at dy_t; the last blocks at d final state.
  {
    const Tensor dy = out_grads[0].Contiguous();
    float* d0 = adjoint + offset_[s.state_buffer[0]] + B_ * s.state_width[0];
    std::memcpy(d0, dy.data<float>(), T_ * B_ * s.state_width[0] * 4);
    for (size_t k = 0; k < n_states; ++k) {
      const Tensor dfinal = out_grads[1 + k].Contiguous();
      const int64_t h = s.state_width[k];
      float* d = adjoint + offset_[s.state_buffer[k]] + T_ * B_ * h;
      const float* g = dfinal.data<float>();
      for (int64_t i = 0; i < B_ * h; ++i) d[i] += g[i];
    }
  }
  // op(W)^T [N, K] of every GEMM, for dlhs += dZ op(W)^T, where its GEMM reads
  // it fastest.
  std::vector<const float*> weight_t(s.gemms.size());
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    const float* w = Weight(in, g.weight);
    const int64_t off = gemms_[k].weight_t_offset;
    float* wt = ws.transposed[k].data<float>() + off;
    if (g.transpose_b) {
      if (off > 0) std::memcpy(wt, w, g.N * g.K * sizeof(float));
      weight_t[k] = off > 0 ? wt : w;
      continue;
    }
    constexpr int64_t kTile = 32;
    for (int64_t i0 = 0; i0 < g.K; i0 += kTile) {
      for (int64_t j0 = 0; j0 < g.N; j0 += kTile) {
        for (int64_t i = i0; i < std::min(g.K, i0 + kTile); ++i) {
          for (int64_t j = j0; j < std::min(g.N, j0 + kTile); ++j) wt[j * g.K + i] = w[i * g.N + j];
        }
      }
    }
    weight_t[k] = wt;
  }
  for (int64_t t = T_ - 1; t >= 0; --t) {
    for (int level = s.max_level; level >= 1; --level) {
      for (const GroupDef& group : s.groups) {
        if (group.level != level) continue;
        ResolveOperands(group.backward_operands, in, arena, x, adjoint, dx, t, threads,
                        operands.data());
        pointwise::Run(group.backward, B_, operands.data());
      }
      for (size_t k = 0; k < s.gemms.size(); ++k) {
        const GemmDef& g = s.gemms[k];
        if (g.hoisted || g.level != level) continue;
        GF_RETURN_IF_ERROR(gemms_[k].backward_data->Run(
            At(adjoint, dx, {g.out_buffer, 0, 0, g.N}, t), weight_t[k], At(adjoint, dx, g.lhs, t)));
      }
    }
  }
  // Weight gradients as one GEMM over all T*B rows each; the hoisted GEMMs' dx.
  for (size_t k = 0; k < s.gemms.size(); ++k) {
    const GemmDef& g = s.gemms[k];
    const float* lhs = At(arena, x, g.lhs, 0);
    const float* dz = adjoint + offset_[g.out_buffer];
    float* dw = grads[1 + n_states + g.weight].data<float>();
    if (g.transpose_b) {
      GF_RETURN_IF_ERROR(gemms_[k].backward_weight->Run(dz, lhs, dw));
    } else {
      GF_RETURN_IF_ERROR(gemms_[k].backward_weight->Run(lhs, dz, dw));
    }
    if (g.hoisted) {
      GF_RETURN_IF_ERROR(gemms_[k].backward_data->Run(dz, weight_t[k], At(adjoint, dx, g.lhs, 0)));
    }
  }
  for (size_t k = 0; k < s.accumulators.size(); ++k) {
    const AccumulatorDef& a = s.accumulators[k];
    const float* acc = adjoint + saved_floats_ + threads * accumulator_offset_[k];
    Tensor& g = grads[1 + n_states + a.boundary];
    float* d = g.data<float>();
    const bool scalar = g.num_elements() == 1;
    for (int64_t r = 0; r < threads; ++r) {
      for (int64_t j = 0; j < a.width; ++j) d[scalar ? 0 : j] += acc[r * a.width + j];
    }
  }
  for (size_t k = 0; k < n_states; ++k) {
    std::memcpy(grads[1 + k].data<float>(), adjoint + offset_[s.state_buffer[k]],
                B_ * s.state_width[k] * 4);
  }
  return grads;
}

// y, s' = CompiledSequence(x, s, θ); its rule runs the plan's backward pass:
//   dx, ds, dθ = CompiledSequenceGrad(x, s, θ, y, s', dy, ds')
// (y and s' are views of the arena of saved values, which they keep alive.)
absl::StatusOr<std::vector<Var>> SequenceOp::Gradient(const GradContext& c) const {
  std::vector<Tensor> in, out, out_grads;
  for (const Var& v : c.inputs) in.push_back(v.value().Contiguous());
  for (const Var& v : c.outputs) out.push_back(v.value());
  for (const Var& v : c.output_grads) out_grads.push_back(v.value());
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> grads, plan_->Backward(in, out, out_grads));
  std::vector<Var> record_in = c.inputs;
  record_in.insert(record_in.end(), c.outputs.begin(), c.outputs.end());
  record_in.insert(record_in.end(), c.output_grads.begin(), c.output_grads.end());
  return RecordOp(plan_->grad_op(), {}, record_in, std::move(grads));
}

absl::StatusOr<const Plan*> PlanFor(std::shared_ptr<const Structure> s, const std::string& text,
                                    int64_t T, int64_t B) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::unique_ptr<Plan>>;
  const std::string key = absl::StrCat(text, "\nT=", T, " B=", B);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it == cache->end()) {
    GF_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, Plan::Make(std::move(s), T, B));
    it = cache->emplace(key, std::move(plan)).first;
  }
  return it->second.get();
}

}  // namespace

absl::Status CanCompileSequence(const Graph& cell) { return StructureOf(cell).status(); }

absl::StatusOr<std::optional<GraphSequenceResult>> RunCompiledSequence(
    const Graph& cell, const Var& x, const std::map<std::string, Var>& initial_states,
    const std::map<std::string, Var>& params) {
  if (x.dtype() != DType::kF32) return std::nullopt;
  const std::string text = PrintGraph(cell);
  absl::StatusOr<std::shared_ptr<const Structure>> structure = StructureOf(cell, text);
  if (!structure.ok()) return std::nullopt;
  const Structure& s = **structure;
  const std::string where = absl::StrCat("cell ", cell.name(), " (compiled sequence)");
  if (x.shape().rank() != 3 || x.shape()[2] != s.I || x.shape()[0] <= 0 || x.shape()[1] <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": input ", s.sig.input,
                                                   " must be [T, B, ", s.I, "], got ",
                                                   x.shape().ToString()));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1];
  std::vector<Var> inputs = {x};
  for (size_t k = 0; k < s.sig.states.size(); ++k) {
    const std::string& name = s.sig.states[k];
    auto it = initial_states.find(name);
    if (it == initial_states.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no initial value for state ", name));
    }
    if (it->second.dtype() != DType::kF32 || it->second.shape() != Shape{B, s.state_width[k]}) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": state ", name, " must be f32[", B, ",", s.state_width[k],
                       "], got ", DTypeName(it->second.dtype()), it->second.shape().ToString()));
    }
    inputs.push_back(it->second);
  }
  // Parameters and @invariant nodes (on the tape, so their rules give d params).
  std::vector<Var> values(cell.num_node_slots());
  auto value_of = [&](NodeId id) -> absl::StatusOr<Var> {
    const NodeData& d = cell.node(id);
    if (d.op == kConstantOp) return Var::Constant(d.value);
    if (d.op == kInputOp) {
      auto it = params.find(d.name);
      if (it == params.end()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": no value given for param ", d.name));
      }
      if (it->second.dtype() != DType::kF32 || it->second.shape() != d.outputs[0].shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": param ", d.name, " must be ", d.outputs[0].ToString(), ", got ",
            DTypeName(it->second.dtype()), it->second.shape().ToString()));
      }
      return it->second;
    }
    if (!values[id].defined()) {
      return absl::InternalError(absl::StrCat(where, ": ", NodeLabel(cell, id), " not computed"));
    }
    return values[id];
  };
  for (NodeId id : s.invariant_nodes) {
    const NodeData& d = cell.node(id);
    std::vector<VarOr> in;
    for (const ValueRef& v : d.inputs) in.push_back(value_of(v.node));
    absl::StatusOr<std::vector<Var>> out = ApplyOp(d.op, in, d.attrs);
    if (!out.ok()) {
      return absl::Status(out.status().code(), absl::StrCat(where, ": node ", NodeLabel(cell, id),
                                                            ": ", out.status().message()));
    }
    values[id] = (*out)[0];
  }
  for (const BoundaryDef& b : s.boundary) {
    GF_ASSIGN_OR_RETURN(Var v, value_of(b.value.node));
    if (v.shape() != b.shape) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", b.label, " is ",
                                                     v.shape().ToString(), ", the graph has ",
                                                     b.shape.ToString()));
    }
    inputs.push_back(v);
  }
  GF_ASSIGN_OR_RETURN(const Plan* plan, PlanFor(*structure, text, T, B));
  std::vector<Tensor> in;
  for (const Var& v : inputs) in.push_back(v.value().Contiguous());
  GF_ASSIGN_OR_RETURN(std::vector<Tensor> out, plan->Forward(in));
  std::vector<Var> vars = RecordOp(plan->op(), {}, inputs, std::move(out));
  GraphSequenceResult result;
  result.y = vars[0];
  for (size_t k = 0; k < s.sig.states.size(); ++k) {
    result.final_states[s.sig.states[k]] = vars[1 + k];
  }
  return result;
}

}  // namespace gatefuse
