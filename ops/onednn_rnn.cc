#include "ops/onednn_rnn.h"

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "core/status.h"
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

dnnl::rnn_primitive_desc_base ForwardPd(const RnnDims& d, prop_kind prop) {
  const Descs m = MakeDescs(d);
  const dnnl::engine& e = Engine();
  switch (d.cell) {
    case RnnCell::kRnnTanh:
    case RnnCell::kRnnRelu:
      return dnnl::vanilla_rnn_forward::primitive_desc(
          dnnl::vanilla_rnn_forward::desc(prop, Activation(d.cell), kLeftToRight, m.x, m.state,
                                          m.w_layer_any, m.w_iter_any, m.bias, m.y, m.state),
          e);
    case RnnCell::kLstm:
    case RnnCell::kPeepholeLstm:
      return dnnl::lstm_forward::primitive_desc(
          dnnl::lstm_forward::desc(prop, kLeftToRight, m.x, m.state, m.state, m.w_layer_any,
                                   m.w_iter_any, m.peephole, m.bias, m.y, m.state, m.state),
          e);
    case RnnCell::kGru:
      return dnnl::gru_forward::primitive_desc(
          dnnl::gru_forward::desc(prop, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                  m.bias, m.y, m.state),
          e);
    case RnnCell::kLbrGru:
      return dnnl::lbr_gru_forward::primitive_desc(
          dnnl::lbr_gru_forward::desc(prop, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                      m.bias, m.y, m.state),
          e);
  }
  throw dnnl::error(dnnl_invalid_arguments, "unknown RNN cell");
}

// `hint` is the forward-training descriptor whose workspace the backward reads.
dnnl::rnn_primitive_desc_base BackwardPd(const RnnDims& d,
                                         const dnnl::rnn_primitive_desc_base& hint) {
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
          e, dnnl::vanilla_rnn_forward::primitive_desc(hint.get()));
    case RnnCell::kLstm:
    case RnnCell::kPeepholeLstm:
      return dnnl::lstm_backward::primitive_desc(
          dnnl::lstm_backward::desc(bwd, kLeftToRight, m.x, m.state, m.state, m.w_layer_any,
                                    m.w_iter_any, m.peephole, m.bias, m.y, m.state, m.state, m.x,
                                    m.state, m.state, m.w_layer_any, m.w_iter_any, m.peephole,
                                    m.bias, m.y, m.state, m.state),
          e, dnnl::lstm_forward::primitive_desc(hint.get()));
    case RnnCell::kGru:
      return dnnl::gru_backward::primitive_desc(
          dnnl::gru_backward::desc(bwd, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                   m.bias, m.y, m.state, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                   m.bias, m.y, m.state),
          e, dnnl::gru_forward::primitive_desc(hint.get()));
    case RnnCell::kLbrGru:
      return dnnl::lbr_gru_backward::primitive_desc(
          dnnl::lbr_gru_backward::desc(bwd, kLeftToRight, m.x, m.state, m.w_layer_any, m.w_iter_any,
                                       m.bias, m.y, m.state, m.x, m.state, m.w_layer_any,
                                       m.w_iter_any, m.bias, m.y, m.state),
          e, dnnl::lbr_gru_forward::primitive_desc(hint.get()));
  }
  throw dnnl::error(dnnl_invalid_arguments, "unknown RNN cell");
}

// A weight as the callers' slots are packed into it (ldigo, `plain`) and as the
// primitive reads or writes it (`prim`: the same memory when the primitive chose
// ldigo, else a second buffer and a cached reorder between the two).
struct WeightBuffer {
  memory plain, prim;
  dnnl::primitive convert;
  bool needs_convert = false;
};

// to_prim: the reorder goes plain -> prim (weights), else prim -> plain (their diffs).
WeightBuffer MakeWeightBuffer(const memory::desc& plain, const memory::desc& prim, bool to_prim) {
  WeightBuffer w;
  w.plain = memory(plain, Engine());
  if (prim == plain) {
    w.prim = w.plain;
    return w;
  }
  w.prim = memory(prim, Engine());
  w.convert = to_prim ? dnnl::reorder(w.plain, w.prim) : dnnl::reorder(w.prim, w.plain);
  w.needs_convert = true;
  return w;
}

float* Data(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

memory User(const memory::desc& md, const void* p) {
  return memory(md, Engine(), const_cast<void*>(p));
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

void Zero(const memory& m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

// Packed weights, bias and peepholes, and the contents they were packed from.
struct LoadedParams {
  WeightBuffer w_layer, w_iter;
  memory bias, peephole;
  // What each part was packed from (RnnParams' keys); empty: unknown, pack next call.
  std::vector<uint64_t> w_layer_key, w_iter_key, bias_key;
};

LoadedParams MakeLoadedParams(const RnnDims& d, const dnnl::rnn_primitive_desc_base& pd) {
  const Descs m = MakeDescs(d);
  LoadedParams p;
  p.w_layer = MakeWeightBuffer(m.w_layer_plain, pd.weights_layer_desc(), true);
  p.w_iter = MakeWeightBuffer(m.w_iter_plain, pd.weights_iter_desc(), true);
  p.bias = memory(m.bias, Engine());
  if (HasPeepholes(d.cell)) p.peephole = memory(m.peephole, Engine());
  return p;
}

struct ForwardPlan {
  std::mutex mu;  // guards the buffers below during a call
  dnnl::rnn_primitive_desc_base pd;
  dnnl::primitive prim;
  LoadedParams params;
  int64_t workspace_bytes = 0;
};

struct BackwardPlan {
  std::mutex mu;
  dnnl::rnn_primitive_desc_base pd;
  dnnl::primitive prim;
  LoadedParams params;
  WeightBuffer dw_layer, dw_iter;
  memory dbias, dpeephole;
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
  plan->pd = ForwardPd(d, training ? prop_kind::forward_training : prop_kind::forward_inference);
  plan->prim = dnnl::primitive(plan->pd);
  plan->params = MakeLoadedParams(d, plan->pd);
  if (training) plan->workspace_bytes = plan->pd.workspace_desc().get_size();
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
      plan->pd = BackwardPd(d, fwd.pd);
      plan->prim = dnnl::primitive(plan->pd);
      plan->params = MakeLoadedParams(d, plan->pd);
      plan->dw_layer = MakeWeightBuffer(m.w_layer_plain, plan->pd.diff_weights_layer_desc(), false);
      plan->dw_iter = MakeWeightBuffer(m.w_iter_plain, plan->pd.diff_weights_iter_desc(), false);
      plan->dbias = memory(m.bias, Engine());
      if (HasPeepholes(d.cell)) plan->dpeephole = memory(m.peephole, Engine());
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

// Whether a part holds `key`'s contents already; if not, forgets what it held (so
// a throw while packing leaves it unknown).
bool Current(const std::vector<uint64_t>& key, std::vector<uint64_t>& held) {
  if (!key.empty() && key == held) return true;
  held.clear();
  return false;
}

// Packs each part of the parameters that changed into a plan's buffers (and runs
// its reorder).
void Load(const RnnDims& d, const RnnParams& p, LoadedParams& to) {
  struct Part {
    const std::vector<const float*>& slots;
    const std::vector<uint64_t>& key;
    std::vector<uint64_t>& held;
    int64_t rows;
    WeightBuffer& buffer;
  };
  bool reordered = false;
  for (Part part : {Part{p.w_layer, p.w_layer_key, to.w_layer_key, d.I, to.w_layer},
                    Part{p.w_iter, p.w_iter_key, to.w_iter_key, d.H, to.w_iter}}) {
    if (Current(part.key, part.held)) continue;
    PackGates(part.slots, p.negated, part.rows, d.H, Data(part.buffer.plain));
    if (part.buffer.needs_convert) {
      part.buffer.convert.execute(Stream(), {{DNNL_ARG_FROM, part.buffer.plain},
                                             {DNNL_ARG_TO, part.buffer.prim}});
      reordered = true;
    }
    part.held = part.key;
  }
  if (!Current(p.bias_key, to.bias_key)) {
    PackVectors(p.bias, p.negated, d.H, Data(to.bias));
    if (HasPeepholes(d.cell)) PackVectors(p.peephole, {}, d.H, Data(to.peephole));
    to.bias_key = p.bias_key;
  }
  if (reordered) Stream().wait();
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

// What forward and backward both read: the sequence, the states, the packed
// parameters and the forward's outputs.
Args DataArgs(const RnnDims& d, const Descs& m, const LoadedParams& w, const float* x,
              const float* h0, const float* c0, const float* y, const float* hT,
              const float* cT) {
  Args args = {{DNNL_ARG_SRC_LAYER, User(m.x, x)},
               {DNNL_ARG_SRC_ITER, User(m.state, h0)},
               {DNNL_ARG_WEIGHTS_LAYER, w.w_layer.prim},
               {DNNL_ARG_WEIGHTS_ITER, w.w_iter.prim},
               {DNNL_ARG_BIAS, w.bias},
               {DNNL_ARG_DST_LAYER, User(m.y, y)},
               {DNNL_ARG_DST_ITER, User(m.state, hT)}};
  if (HasCellState(d.cell)) {
    args.insert({DNNL_ARG_SRC_ITER_C, User(m.state, c0)});
    args.insert({DNNL_ARG_DST_ITER_C, User(m.state, cT)});
  }
  if (HasPeepholes(d.cell)) args.insert({DNNL_ARG_WEIGHTS_PEEPHOLE, w.peephole});
  return args;
}

absl::Status RnnForward(const RnnDims& d, const RnnParams& p, const RnnForwardArgs& a) {
  GF_RETURN_IF_ERROR(CheckParams(d, p));
  const bool training = a.workspace != nullptr;
  GF_ASSIGN_OR_RETURN(ForwardPlan * plan, GetForwardPlan(d, training));
  std::lock_guard<std::mutex> lock(plan->mu);
  return Call("RNN forward", [&] {
    const Descs m = MakeDescs(d);
    Load(d, p, plan->params);
    Args args = DataArgs(d, m, plan->params, a.x, a.h0, a.c0, a.y, a.hT, a.cT);
    if (training) args.insert({DNNL_ARG_WORKSPACE, User(plan->pd.workspace_desc(), a.workspace)});
    plan->prim.execute(Stream(), args);
    Stream().wait();
  });
}

absl::Status RnnBackward(const RnnDims& d, const RnnParams& p, const RnnBackwardArgs& a,
                         const RnnParamGrads& g) {
  GF_RETURN_IF_ERROR(CheckParams(d, p));
  GF_RETURN_IF_ERROR(
      CheckSlots(d, g.w_layer.size(), g.w_iter.size(), g.bias.size(), g.peephole.size()));
  GF_ASSIGN_OR_RETURN(BackwardPlan * plan, GetBackwardPlan(d));
  if (static_cast<int64_t>(plan->pd.workspace_desc().get_size()) !=
      plan->forward_workspace_bytes) {
    return absl::InternalError("oneDNN RNN: backward and forward workspaces differ in size");
  }
  std::lock_guard<std::mutex> lock(plan->mu);
  return Call("RNN backward", [&] {
    const Descs m = MakeDescs(d);
    Load(d, p, plan->params);
    // The primitive accumulates into the weight diffs.
    Zero(plan->dw_layer.prim);
    Zero(plan->dw_iter.prim);
    Zero(plan->dbias);
    if (HasPeepholes(d.cell)) Zero(plan->dpeephole);
    Args args = DataArgs(d, m, plan->params, a.x, a.h0, a.c0, a.y, a.hT, a.cT);
    args.insert({{DNNL_ARG_WORKSPACE, User(plan->pd.workspace_desc(), a.workspace)},
                 {DNNL_ARG_DIFF_DST_LAYER, User(m.y, a.dy)},
                 {DNNL_ARG_DIFF_DST_ITER, User(m.state, a.dhT)},
                 {DNNL_ARG_DIFF_SRC_LAYER, User(m.x, a.dx)},
                 {DNNL_ARG_DIFF_SRC_ITER, User(m.state, a.dh0)},
                 {DNNL_ARG_DIFF_WEIGHTS_LAYER, plan->dw_layer.prim},
                 {DNNL_ARG_DIFF_WEIGHTS_ITER, plan->dw_iter.prim},
                 {DNNL_ARG_DIFF_BIAS, plan->dbias}});
    if (HasCellState(d.cell)) {
      args.insert({DNNL_ARG_DIFF_DST_ITER_C, User(m.state, a.dcT)});
      args.insert({DNNL_ARG_DIFF_SRC_ITER_C, User(m.state, a.dc0)});
    }
    if (HasPeepholes(d.cell)) args.insert({DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE, plan->dpeephole});
    plan->prim.execute(Stream(), args);
    for (WeightBuffer* w : {&plan->dw_layer, &plan->dw_iter}) {
      if (w->needs_convert) {
        w->convert.execute(Stream(), {{DNNL_ARG_FROM, w->prim}, {DNNL_ARG_TO, w->plain}});
      }
    }
    Stream().wait();
    UnpackGates(Data(plan->dw_layer.plain), d.I, d.H, g.w_layer);
    UnpackGates(Data(plan->dw_iter.plain), d.H, d.H, g.w_iter);
    UnpackVectors(Data(plan->dbias), d.H, g.bias);
    if (HasPeepholes(d.cell)) UnpackVectors(Data(plan->dpeephole), d.H, g.peephole);
  });
}

}  // namespace gatefuse::onednn
