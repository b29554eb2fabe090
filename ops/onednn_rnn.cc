#include "ops/onednn_rnn.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ops/onednn.h"

namespace gatefuse::onednn {

using dnnl::memory;
using dnnl::prop_kind;
using Tag = memory::format_tag;
using Args = std::unordered_map<int, memory>;

int NumGates(RnnCell cell) {
  switch (cell) {
    case RnnCell::kRnnTanh:
    case RnnCell::kRnnRelu:
      return 1;
    case RnnCell::kLstm:
    case RnnCell::kPeepholeLstm:
      return 4;
    case RnnCell::kGru:
    case RnnCell::kLbrGru:
      return 3;
  }
  return 0;
}

int NumBiasSlots(RnnCell cell) { return NumGates(cell) + (cell == RnnCell::kLbrGru ? 1 : 0); }
bool HasCellState(RnnCell cell) { return cell == RnnCell::kLstm || cell == RnnCell::kPeepholeLstm; }
bool HasPeepholes(RnnCell cell) { return cell == RnnCell::kPeepholeLstm; }

namespace {

constexpr auto kLeftToRight = dnnl::rnn_direction::unidirectional_left2right;

memory::desc F32(const memory::dims& dims, Tag tag) {
  return memory::desc(dims, memory::data_type::f32, tag);
}

// The memory descriptors of one layer, one direction. Weights are left to the
// primitive (`any`); data, states, bias and peepholes are the dense layouts the
// callers hold: x/y [T, B, *] (tnc), states [1, 1, B, H] (ldnc), bias [1, 1, G', H].
struct Descs {
  memory::desc x, y, state, w_layer_any, w_iter_any, w_layer_plain, w_iter_plain, bias, peephole;
};

Descs MakeDescs(const RnnDims& d) {
  const int64_t G = NumGates(d.cell);
  Descs m;
  m.x = F32({d.T, d.B, d.I}, Tag::tnc);
  m.y = F32({d.T, d.B, d.H}, Tag::tnc);
  m.state = F32({1, 1, d.B, d.H}, Tag::ldnc);
  m.w_layer_any = F32({1, 1, d.I, G, d.H}, Tag::any);
  m.w_iter_any = F32({1, 1, d.H, G, d.H}, Tag::any);
  m.w_layer_plain = F32({1, 1, d.I, G, d.H}, Tag::ldigo);
  m.w_iter_plain = F32({1, 1, d.H, G, d.H}, Tag::ldigo);
  m.bias = F32({1, 1, NumBiasSlots(d.cell), d.H}, Tag::ldgo);
  if (HasPeepholes(d.cell)) m.peephole = F32({1, 1, 3, d.H}, Tag::ldgo);  // else zero: none
  return m;
}

dnnl::algorithm Activation(RnnCell cell) {
  return cell == RnnCell::kRnnRelu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_tanh;
}

// `attr`: ScratchpadAttr() for the plans here; the default for MakeRnnPrimitiveDescs.
dnnl::rnn_primitive_desc_base ForwardPd(const RnnDims& d, prop_kind prop,
                                        const dnnl::primitive_attr& attr = {}) {
  const Descs m = MakeDescs(d);
  const dnnl::engine& e = Engine();
  switch (d.cell) {
    case RnnCell::kRnnTanh:
    case RnnCell::kRnnRelu:
      return dnnl::vanilla_rnn_forward::primitive_desc(
          dnnl::vanilla_rnn_forward::desc(prop, Activation(d.cell), kLeftToRight, m.x, m.state,
                                          m.w_layer_any, m.w_iter_any, m.bias, m.y, m.state),
          attr, e);
    case RnnCell::kLstm:
    case RnnCell::kPeepholeLstm:
      return dnnl::lstm_forward::primitive_desc(
          dnnl::lstm_forward::desc(prop, kLeftToRight, m.x, m.state, m.state, m.w_layer_any,
                                   m.w_iter_any, m.peephole, m.bias, m.y, m.state, m.state),
          attr, e);
    case RnnCell::kGru:
      return dnnl::gru_forward::primitive_desc(
          dnnl::gru_forward::desc(prop, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                  m.bias, m.y, m.state),
          attr, e);
    case RnnCell::kLbrGru:
      return dnnl::lbr_gru_forward::primitive_desc(
          dnnl::lbr_gru_forward::desc(prop, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                      m.bias, m.y, m.state),
          attr, e);
  }
  throw dnnl::error(dnnl_invalid_arguments, "unknown RNN cell");
}

// `hint` is the forward-training descriptor whose workspace the backward reads.
dnnl::rnn_primitive_desc_base BackwardPd(const RnnDims& d,
                                         const dnnl::rnn_primitive_desc_base& hint,
                                         const dnnl::primitive_attr& attr = {}) {
  const Descs m = MakeDescs(d);
  const dnnl::engine& e = Engine();
  const prop_kind bwd = prop_kind::backward;
  switch (d.cell) {
    case RnnCell::kRnnTanh:
    case RnnCell::kRnnRelu:
      return dnnl::vanilla_rnn_backward::primitive_desc(
          dnnl::vanilla_rnn_backward::desc(bwd, Activation(d.cell), kLeftToRight, m.x, m.state,
                                           m.w_layer_any, m.w_iter_any, m.bias, m.y, m.state, m.x,
                                           m.state, m.w_layer_any, m.w_iter_any, m.bias, m.y,
                                           m.state),
          attr, e, dnnl::vanilla_rnn_forward::primitive_desc(hint.get()));
    case RnnCell::kLstm:
    case RnnCell::kPeepholeLstm:
      return dnnl::lstm_backward::primitive_desc(
          dnnl::lstm_backward::desc(bwd, kLeftToRight, m.x, m.state, m.state, m.w_layer_any,
                                    m.w_iter_any, m.peephole, m.bias, m.y, m.state, m.state, m.x,
                                    m.state, m.state, m.w_layer_any, m.w_iter_any, m.peephole,
                                    m.bias, m.y, m.state, m.state),
          attr, e, dnnl::lstm_forward::primitive_desc(hint.get()));
    case RnnCell::kGru:
      return dnnl::gru_backward::primitive_desc(
          dnnl::gru_backward::desc(bwd, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                   m.bias, m.y, m.state, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                   m.bias, m.y, m.state),
          attr, e, dnnl::gru_forward::primitive_desc(hint.get()));
    case RnnCell::kLbrGru:
      return dnnl::lbr_gru_backward::primitive_desc(
          dnnl::lbr_gru_backward::desc(bwd, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                       m.bias, m.y, m.state, m.x, m.state, m.w_layer_any,
                                       m.w_iter_any, m.bias, m.y, m.state),
          attr, e, dnnl::lbr_gru_forward::primitive_desc(hint.get()));
  }
  throw dnnl::error(dnnl_invalid_arguments, "unknown RNN cell");
}

memory User(const memory::desc& md, const void* p) {
  return memory(md, Engine(), const_cast<void*>(p));
}

int64_t Floats(const memory::desc& md) {
  return static_cast<int64_t>((md.get_size() + sizeof(float) - 1) / sizeof(float));
}

// A fresh f32 buffer of `floats`; large ones come back from the tensor block cache,
// so a buffer made per call costs no page faults.
Tensor Buffer(int64_t floats) { return Tensor::Empty(Shape{floats}, DType::kF32); }

// Runs `prim` on the calling thread's stream, with the thread's scratchpad when it
// needs one (every primitive here is made with ScratchpadAttr()).
void Execute(const dnnl::primitive& prim, const memory::desc& scratchpad, Args& args) {
  const size_t bytes = scratchpad.get_size();
  if (bytes > 0) args[DNNL_ARG_SCRATCHPAD] = User(scratchpad, ThreadScratchpad(bytes));
  prim.execute(Stream(), args);
}

// A reorder between the layout the callers' slots are packed into (ldigo) and the
// one the primitive chose for a weight or its diff; none when they are the same.
struct Reorder {
  memory::desc from, to, scratchpad;
  bool needed = false;
  dnnl::primitive prim;
};

Reorder MakeReorder(const memory::desc& from, const memory::desc& to) {
  Reorder r;
  r.from = from;
  r.to = to;
  if (from == to) return r;
  const dnnl::reorder::primitive_desc pd(Engine(), from, Engine(), to, ScratchpadAttr());
  r.prim = dnnl::reorder(pd);
  r.scratchpad = pd.scratchpad_desc();
  r.needed = true;
  return r;
}

// Runs `r` from `from` into `to` (only if needed).
void RunReorder(const Reorder& r, const void* from, void* to) {
  Args args = {{DNNL_ARG_FROM, User(r.from, from)}, {DNNL_ARG_TO, User(r.to, to)}};
  Execute(r.prim, r.scratchpad, args);
}

// ldigo [rows, G, H] from G row-major [rows, H] slot arrays.
bool Negated(const std::vector<bool>& negated, size_t slot) {
  return slot < negated.size() && negated[slot];
}

// n floats from src to dst, negated or not.
void CopyRow(const float* src, int64_t n, bool negate, float* dst) {
  if (!negate) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  for (int64_t j = 0; j < n; ++j) dst[j] = -src[j];
}

void PackGates(const std::vector<const float*>& slots, const std::vector<bool>& negated,
               int64_t rows, int64_t H, float* dst) {
  const int64_t G = static_cast<int64_t>(slots.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < G; ++g) {
      CopyRow(slots[g] + r * H, H, Negated(negated, g), dst + (r * G + g) * H);
    }
  }
}

void UnpackGates(const float* src, int64_t rows, int64_t H, const std::vector<float*>& slots) {
  const int64_t G = static_cast<int64_t>(slots.size());
  for (int64_t g = 0; g < G; ++g) {
    if (slots[g] == nullptr) continue;
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(slots[g] + r * H, src + (r * G + g) * H, H * sizeof(float));
    }
  }
}

// [K, H] from K slot vectors [H]; a null slot is zeros.
void PackVectors(const std::vector<const float*>& slots, const std::vector<bool>& negated,
                 int64_t H, float* dst) {
  for (size_t k = 0; k < slots.size(); ++k) {
    if (slots[k] == nullptr) {
      std::memset(dst + k * H, 0, H * sizeof(float));
    } else {
      CopyRow(slots[k], H, Negated(negated, k), dst + k * H);
    }
  }
}

void UnpackVectors(const float* src, int64_t H, const std::vector<float*>& slots) {
  for (size_t k = 0; k < slots.size(); ++k) {
    if (slots[k] != nullptr) std::memcpy(slots[k], src + k * H, H * sizeof(float));
  }
}

// Packed parameter parts by the RnnParams key of their contents. An entry is never
// written once inserted (a part whose contents change gets a new key, and so a new
// entry), so callers share it without a lock; the mutex guards the list only, for a
// lookup or an insertion. The few most recent keys are kept: the layers of one
// size (a bidirectional layer's two directions, say) share a plan and alternate.
class PackCache {
 public:
  // The packed part of `key` (an undefined tensor if none); empty keys never match.
  Tensor Find(const std::vector<uint64_t>& key) {
    if (key.empty()) return Tensor();
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < entries_.size(); ++k) {
      if (entries_[k].first != key) continue;
      std::rotate(entries_.begin(), entries_.begin() + k, entries_.begin() + k + 1);
      return entries_[0].second;
    }
    return Tensor();
  }
  // Keeps `packed` as `key`'s (or the one another thread inserted meanwhile).
  void Insert(const std::vector<uint64_t>& key, const Tensor& packed) {
    if (key.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& entry : entries_) {
      if (entry.first == key) return;
    }
    entries_.insert(entries_.begin(), {key, packed});
    if (entries_.size() > kKeep) entries_.pop_back();
  }

 private:
  static constexpr size_t kKeep = 4;
  std::mutex mu_;
  std::vector<std::pair<std::vector<uint64_t>, Tensor>> entries_;  // most recent first
};

// What a primitive reads its parameters as, and the caches of their packed forms.
struct Packing {
  Reorder w_layer, w_iter;  // ldigo -> the primitive's weight layouts
  PackCache w_layer_cache, w_iter_cache, vector_cache;
};

void MakePacking(const RnnDims& d, const dnnl::rnn_primitive_desc_base& pd, Packing& p) {
  const Descs m = MakeDescs(d);
  p.w_layer = MakeReorder(m.w_layer_plain, pd.weights_layer_desc());
  p.w_iter = MakeReorder(m.w_iter_plain, pd.weights_iter_desc());
}

// The peepholes follow the bias in one buffer, from this float on.
int64_t PeepholeOffset(const RnnDims& d) { return (NumBiasSlots(d.cell) * d.H + 15) / 16 * 16; }

// One call's parameters in the primitive's layouts: shared cached entries, or packed
// for this call alone (an empty key).
struct PackedParams {
  Tensor w_layer, w_iter, vectors;  // vectors: the bias, then the peepholes
};

// Only inside Call: the reorders throw dnnl::error.
Tensor PackWeight(const std::vector<const float*>& slots, const std::vector<bool>& negated,
                  int64_t rows, int64_t H, const Reorder& r) {
  const int64_t G = static_cast<int64_t>(slots.size());
  Tensor plain = Buffer(rows * G * H);
  PackGates(slots, negated, rows, H, plain.data<float>());
  if (!r.needed) return plain;
  Tensor packed = Buffer(Floats(r.to));
  RunReorder(r, plain.data<float>(), packed.data<float>());
  Stream().wait();
  return packed;
}

PackedParams Pack(const RnnDims& d, const RnnParams& p, Packing& packing) {
  PackedParams out;
  out.w_layer = packing.w_layer_cache.Find(p.w_layer_key);
  if (!out.w_layer.defined()) {
    out.w_layer = PackWeight(p.w_layer, p.negated, d.I, d.H, packing.w_layer);
    packing.w_layer_cache.Insert(p.w_layer_key, out.w_layer);
  }
  out.w_iter = packing.w_iter_cache.Find(p.w_iter_key);
  if (!out.w_iter.defined()) {
    out.w_iter = PackWeight(p.w_iter, p.negated, d.H, d.H, packing.w_iter);
    packing.w_iter_cache.Insert(p.w_iter_key, out.w_iter);
  }
  out.vectors = packing.vector_cache.Find(p.bias_key);
  if (!out.vectors.defined()) {
    Tensor v = Buffer(PeepholeOffset(d) + (HasPeepholes(d.cell) ? 3 * d.H : 0));
    float* dst = v.data<float>();
    PackVectors(p.bias, p.negated, d.H, dst);
    if (HasPeepholes(d.cell)) PackVectors(p.peephole, {}, d.H, dst + PeepholeOffset(d));
    out.vectors = v;
    packing.vector_cache.Insert(p.bias_key, out.vectors);
  }
  return out;
}

// A plan is immutable once cached but for its packing caches (which lock): every
// call brings its own memory objects, scratchpad and diff buffers.
struct ForwardPlan {
  dnnl::rnn_primitive_desc_base pd;
  dnnl::primitive prim;
  memory::desc workspace, scratchpad;
  Packing packing;
  int64_t workspace_bytes = 0;
};

struct BackwardPlan {
  dnnl::rnn_primitive_desc_base pd;
  dnnl::primitive prim;
  memory::desc workspace, scratchpad, dw_layer, dw_iter;
  Packing packing;
  Reorder dw_layer_out, dw_iter_out;  // the primitive's diff layouts -> ldigo
  int64_t forward_workspace_bytes = 0;
};

using PlanKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t>;

PlanKey KeyOf(const RnnDims& d) { return {static_cast<int>(d.cell), d.T, d.B, d.I, d.H}; }

std::mutex& CacheMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

// Only under CacheMutex(); plans live for the process, like the matmul cache.
ForwardPlan& GetForwardPlanLocked(const RnnDims& d, bool training) {
  static auto* cache = new std::map<std::pair<PlanKey, bool>, std::unique_ptr<ForwardPlan>>;
  auto& slot = (*cache)[{KeyOf(d), training}];
  if (slot != nullptr) return *slot;
  auto plan = std::make_unique<ForwardPlan>();
  plan->pd = ForwardPd(d, training ? prop_kind::forward_training : prop_kind::forward_inference,
                       ScratchpadAttr());
  plan->prim = dnnl::primitive(plan->pd);
  plan->scratchpad = plan->pd.scratchpad_desc();
  MakePacking(d, plan->pd, plan->packing);
  if (training) {
    plan->workspace = plan->pd.workspace_desc();
    plan->workspace_bytes = plan->workspace.get_size();
  }
  slot = std::move(plan);  // only once fully built: a throw above caches nothing
  return *slot;
}

absl::StatusOr<ForwardPlan*> GetForwardPlan(const RnnDims& d, bool training) {
  ForwardPlan* plan = nullptr;
  GF_RETURN_IF_ERROR(Call("RNN forward descriptor", [&] {
    std::lock_guard<std::mutex> lock(CacheMutex());
    plan = &GetForwardPlanLocked(d, training);
  }));
  return plan;
}

absl::StatusOr<BackwardPlan*> GetBackwardPlan(const RnnDims& d) {
  static auto* cache = new std::map<PlanKey, std::unique_ptr<BackwardPlan>>;
  BackwardPlan* result = nullptr;
  GF_RETURN_IF_ERROR(Call("RNN backward descriptor", [&] {
    std::lock_guard<std::mutex> lock(CacheMutex());
    auto& slot = (*cache)[KeyOf(d)];
    if (slot == nullptr) {
      const ForwardPlan& fwd = GetForwardPlanLocked(d, /*training=*/true);
      auto plan = std::make_unique<BackwardPlan>();
      const Descs m = MakeDescs(d);
      plan->pd = BackwardPd(d, fwd.pd, ScratchpadAttr());
      plan->prim = dnnl::primitive(plan->pd);
      plan->workspace = plan->pd.workspace_desc();
      plan->scratchpad = plan->pd.scratchpad_desc();
      MakePacking(d, plan->pd, plan->packing);
      plan->dw_layer = plan->pd.diff_weights_layer_desc();
      plan->dw_iter = plan->pd.diff_weights_iter_desc();
      plan->dw_layer_out = MakeReorder(plan->dw_layer, m.w_layer_plain);
      plan->dw_iter_out = MakeReorder(plan->dw_iter, m.w_iter_plain);
      plan->forward_workspace_bytes = fwd.workspace_bytes;
      slot = std::move(plan);
    }
    result = slot.get();
  }));
  return result;
}

// Slot counts are a programmer's contract with this unit, not user input.
absl::Status CheckSlots(const RnnDims& d, size_t w_layer, size_t w_iter, size_t bias,
                        size_t peephole) {
  const size_t G = NumGates(d.cell), Gb = NumBiasSlots(d.cell);
  const size_t P = HasPeepholes(d.cell) ? 3 : 0;
  if (w_layer != G || w_iter != G || bias != Gb || peephole != P) {
    return absl::InternalError(absl::StrCat("oneDNN RNN: expected ", G, " weight slots, ", Gb,
                                            " bias slots and ", P, " peephole slots, got ", w_layer,
                                            "/", w_iter, "/", bias, "/", peephole));
  }
  if (d.T <= 0 || d.B <= 0 || d.I <= 0 || d.H <= 0) {
    return absl::InternalError(
        absl::StrCat("oneDNN RNN: empty dims T=", d.T, " B=", d.B, " I=", d.I, " H=", d.H));
  }
  return absl::OkStatus();
}

absl::Status CheckParams(const RnnDims& d, const RnnParams& p) {
  GF_RETURN_IF_ERROR(
      CheckSlots(d, p.w_layer.size(), p.w_iter.size(), p.bias.size(), p.peephole.size()));
  for (size_t g = 0; g < p.w_layer.size(); ++g) {
    if (p.w_layer[g] == nullptr || p.w_iter[g] == nullptr) {
      return absl::InternalError(absl::StrCat("oneDNN RNN: weight slot ", g, " is null"));
    }
  }
  return absl::OkStatus();
}

// What forward and backward both read: the sequence, the states, the packed
// parameters and the forward's outputs.
Args DataArgs(const RnnDims& d, const Descs& m, const Packing& packing, const PackedParams& w, const float* x, const float* h0, const float* c0,
              const float* y, const float* hT, const float* cT) {
  const float* vectors = w.vectors.data<float>();
  Args args = {{DNNL_ARG_SRC_LAYER, User(m.x, x)},
               {DNNL_ARG_SRC_ITER, User(m.state, h0)},
               {DNNL_ARG_WEIGHTS_LAYER, User(packing.w_layer.to, w.w_layer.data<float>())},
               {DNNL_ARG_WEIGHTS_ITER, User(packing.w_iter.to, w.w_iter.data<float>())},
               {DNNL_ARG_BIAS, User(m.bias, vectors)},
               {DNNL_ARG_DST_LAYER, User(m.y, y)},
               {DNNL_ARG_DST_ITER, User(m.state, hT)}};
  if (HasCellState(d.cell)) {
    args.insert({DNNL_ARG_SRC_ITER_C, User(m.state, c0)});
    args.insert({DNNL_ARG_DST_ITER_C, User(m.state, cT)});
  }
  if (HasPeepholes(d.cell)) {
    args.insert({DNNL_ARG_WEIGHTS_PEEPHOLE, User(m.peephole, vectors + PeepholeOffset(d))});
  }
  return args;
}

}  // namespace

absl::StatusOr<RnnPrimitiveDescs> MakeRnnPrimitiveDescs(const RnnDims& dims, bool training) {
  GF_RETURN_IF_ERROR(CheckSlots(dims, NumGates(dims.cell), NumGates(dims.cell),
                                NumBiasSlots(dims.cell), HasPeepholes(dims.cell) ? 3 : 0));
  RnnPrimitiveDescs pds;
  GF_RETURN_IF_ERROR(Call("RNN descriptors", [&] {
    pds.forward =
        ForwardPd(dims, training ? prop_kind::forward_training : prop_kind::forward_inference);
    if (training) pds.backward = BackwardPd(dims, pds.forward);
  }));
  return pds;
}

absl::StatusOr<int64_t> RnnWorkspaceBytes(const RnnDims& dims) {
  GF_RETURN_IF_ERROR(CheckSlots(dims, NumGates(dims.cell), NumGates(dims.cell),
                                NumBiasSlots(dims.cell), HasPeepholes(dims.cell) ? 3 : 0));
  GF_ASSIGN_OR_RETURN(ForwardPlan * plan, GetForwardPlan(dims, /*training=*/true));
  return plan->workspace_bytes;
}

absl::Status RnnForward(const RnnDims& d, const RnnParams& p, const RnnForwardArgs& a) {
  GF_RETURN_IF_ERROR(CheckParams(d, p));
  const bool training = a.workspace != nullptr;
  GF_ASSIGN_OR_RETURN(ForwardPlan * plan, GetForwardPlan(d, training));
  return Call("RNN forward", [&] {
    const Descs m = MakeDescs(d);
    const PackedParams w = Pack(d, p, plan->packing);
    Args args = DataArgs(d, m, plan->packing, w, a.x, a.h0, a.c0, a.y, a.hT, a.cT);
    if (training) args.insert({DNNL_ARG_WORKSPACE, User(plan->workspace, a.workspace)});
    Execute(plan->prim, plan->scratchpad, args);
    Stream().wait();
  });
}

absl::Status RnnBackward(const RnnDims& d, const RnnParams& p, const RnnBackwardArgs& a,
                         const RnnParamGrads& g) {
  GF_RETURN_IF_ERROR(CheckParams(d, p));
  GF_RETURN_IF_ERROR(
      CheckSlots(d, g.w_layer.size(), g.w_iter.size(), g.bias.size(), g.peephole.size()));
  GF_ASSIGN_OR_RETURN(BackwardPlan * plan, GetBackwardPlan(d));
  if (static_cast<int64_t>(plan->workspace.get_size()) != plan->forward_workspace_bytes) {
    return absl::InternalError("oneDNN RNN: backward and forward workspaces differ in size");
  }
  return Call("RNN backward", [&] {
    const Descs m = MakeDescs(d);
    const PackedParams w = Pack(d, p, plan->packing);
    // This call's diff buffers, zeroed: the primitive accumulates into them.
    Tensor dw_layer = Tensor::Zeros(Shape{Floats(plan->dw_layer)}, DType::kF32);
    Tensor dw_iter = Tensor::Zeros(Shape{Floats(plan->dw_iter)}, DType::kF32);
    Tensor dbias = Tensor::Zeros(Shape{Floats(m.bias)}, DType::kF32);
    Tensor dpeephole;
    if (HasPeepholes(d.cell)) dpeephole = Tensor::Zeros(Shape{Floats(m.peephole)}, DType::kF32);
    Args args = DataArgs(d, m, plan->packing, w, a.x, a.h0, a.c0, a.y, a.hT, a.cT);
    args.insert({{DNNL_ARG_WORKSPACE, User(plan->workspace, a.workspace)},
                 {DNNL_ARG_DIFF_DST_LAYER, User(m.y, a.dy)},
                 {DNNL_ARG_DIFF_DST_ITER, User(m.state, a.dhT)},
                 {DNNL_ARG_DIFF_SRC_LAYER, User(m.x, a.dx)},
                 {DNNL_ARG_DIFF_SRC_ITER, User(m.state, a.dh0)},
                 {DNNL_ARG_DIFF_WEIGHTS_LAYER, User(plan->dw_layer, dw_layer.data<float>())},
                 {DNNL_ARG_DIFF_WEIGHTS_ITER, User(plan->dw_iter, dw_iter.data<float>())},
                 {DNNL_ARG_DIFF_BIAS, User(m.bias, dbias.data<float>())}});
    if (HasCellState(d.cell)) {
      args.insert({DNNL_ARG_DIFF_DST_ITER_C, User(m.state, a.dcT)});
      args.insert({DNNL_ARG_DIFF_SRC_ITER_C, User(m.state, a.dc0)});
    }
    if (HasPeepholes(d.cell)) {
      args.insert({DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE, User(m.peephole, dpeephole.data<float>())});
    }
    Execute(plan->prim, plan->scratchpad, args);
    // The diffs in ldigo: in place when the primitive chose it, else reordered.
    Tensor dw_layer_plain = dw_layer, dw_iter_plain = dw_iter;
    if (plan->dw_layer_out.needed) {
      dw_layer_plain = Buffer(Floats(m.w_layer_plain));
      RunReorder(plan->dw_layer_out, dw_layer.data<float>(), dw_layer_plain.data<float>());
    }
    if (plan->dw_iter_out.needed) {
      dw_iter_plain = Buffer(Floats(m.w_iter_plain));
      RunReorder(plan->dw_iter_out, dw_iter.data<float>(), dw_iter_plain.data<float>());
    }
    Stream().wait();
    UnpackGates(dw_layer_plain.data<float>(), d.I, d.H, g.w_layer);
    UnpackGates(dw_iter_plain.data<float>(), d.H, d.H, g.w_iter);
    UnpackVectors(dbias.data<float>(), d.H, g.bias);
    if (HasPeepholes(d.cell)) UnpackVectors(dpeephole.data<float>(), d.H, g.peephole);
  });
}

}  // namespace gatefuse::onednn
