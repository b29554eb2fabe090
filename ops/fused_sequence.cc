#include "ops/fused_sequence.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "ops/fused_cell.h"
#include "ops/onednn_rnn.h"
#include "ops/op_util.h"
#include "ops/register_all.h"
#include "ops/registry.h"

namespace gatefuse {
namespace {

constexpr char kOp[] = "FusedSequence";
constexpr char kGradOp[] = "FusedSequenceGrad";

// The kind's oneDNN cell and slot order come from the cell kind table
// (CellKind::fused). CIFG runs on the LSTM primitive: its forget slot holds the input
// gate's weights and bias negated, f = σ(-a_i) = 1 - σ(a_i), and that slot's
// gradients flow back into i's.
struct Parsed {
  const CellKind* kind;
  std::vector<std::string> roles;
  const FusedKernel& fused() const { return *kind->fused; }
  size_t num_states() const { return kind->states.size(); }
  size_t num_forward_inputs() const { return 1 + num_states() + roles.size(); }
};

absl::StatusOr<Parsed> ParseAttrs(const std::string& op, const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(std::string kind, attrs.GetString(op, "kind"));
  GF_ASSIGN_OR_RETURN(std::string roles, attrs.GetString(op, "roles"));
  GF_ASSIGN_OR_RETURN(const CellKind* k, FindFusedKind(op, kind));
  return Parsed{k, absl::StrSplit(roles, ',', absl::SkipEmpty())};
}

// Checks FusedSequence's inputs (the first p.num_forward_inputs() of `in`) and returns
// the sequence's dims.
absl::StatusOr<onednn::RnnDims> CheckForwardInputs(const std::string& op, const Parsed& p,
                                                   const std::vector<TensorSpec>& in) {
  const size_t n_states = p.num_states();
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k].dtype != DType::kF32) {
      return OpError(op, in,
                     absl::StrCat("input ", k,
                                  " must be f32 (the oneDNN RNN kernels are "
                                  "f32 only), not ",
                                  DTypeName(in[k].dtype)));
    }
  }
  GF_RETURN_IF_ERROR(ExpectRank(op, in, 0, 3));
  const int64_t T = in[0].shape[0], B = in[0].shape[1], I = in[0].shape[2];
  if (T <= 0 || B <= 0 || I <= 0) {
    return OpError(op, in, "x must be [T, B, I] with T, B and I positive");
  }
  const int64_t H = in[1].shape.rank() == 2 ? in[1].shape[1] : 0;
  for (size_t k = 1; k <= n_states; ++k) {
    if (H <= 0 || in[k].shape != Shape{B, H}) {
      return OpError(op, in,
                     absl::StrCat("state ", p.kind->states[k - 1], " must be [B, H] with ",
                                  "B = ", B, " from x and H > 0"));
    }
  }
  std::set<std::string> seen;
  for (size_t k = 0; k < p.roles.size(); ++k) {
    absl::StatusOr<Shape> want_or = FusedCellRoleShape(*p.kind, p.roles[k], I, H);
    if (!want_or.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", want_or.status().message()));
    }
    const Shape want = *want_or;
    if (!seen.insert(p.roles[k]).second) {
      return OpError(op, in, absl::StrCat("role ", p.roles[k], " is given twice"));
    }
    if (in[1 + n_states + k].shape != want) {
      return OpError(op, in, absl::StrCat("role ", p.roles[k], " must be ", want.ToString()));
    }
  }
  for (const std::string& g : p.kind->gates) {
    for (const char* w : {"W", "U"}) {
      if (!seen.count(RoleName(w, g))) {
        return OpError(op, in, absl::StrCat("role ", RoleName(w, g), " is missing"));
      }
    }
  }
  return onednn::RnnDims{p.fused().cell, T, B, I, H};
}

// The workspace travels as an f32 tensor: its bytes rounded up to words, then one
// word that marks it spent. oneDNN's backward overwrites the workspace it reads,
// so the first backward runs on it in place and marks it; a second backward
// through the same node (retain_graph) finds the mark and recomputes it.
int64_t WorkspaceWords(int64_t bytes) { return (bytes + 3) / 4; }
constexpr float kWorkspaceFresh = 0, kWorkspaceSpent = 1;

// y, the final states and (training) the workspace as f32 words.
absl::StatusOr<std::vector<TensorSpec>> ForwardOutputs(const Parsed& p, const onednn::RnnDims& d,
                                                       bool training) {
  std::vector<TensorSpec> out = {{Shape{d.T, d.B, d.H}, DType::kF32}};
  for (size_t k = 0; k < p.num_states(); ++k) out.push_back({Shape{d.B, d.H}, DType::kF32});
  if (training) {
    GF_ASSIGN_OR_RETURN(int64_t bytes, onednn::RnnWorkspaceBytes(d));
    out.push_back({Shape{WorkspaceWords(bytes) + 1}, DType::kF32});  // + the spent mark
  }
  return out;
}

absl::StatusOr<bool> Training(const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(int64_t training, attrs.GetInt(kOp, "training"));
  if (training != 0 && training != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": attribute training must be 0 or 1, not ", training));
  }
  return training == 1;
}

absl::StatusOr<std::vector<TensorSpec>> SequenceShape(const std::vector<TensorSpec>& in,
                                                      const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(kOp, attrs));
  GF_ASSIGN_OR_RETURN(bool training, Training(attrs));
  if (in.size() != p.num_forward_inputs()) {
    return OpError(kOp, in,
                   absl::StrCat("expects x, ", p.num_states(), " states and ", p.roles.size(),
                                " role values"));
  }
  GF_ASSIGN_OR_RETURN(onednn::RnnDims d, CheckForwardInputs(kOp, p, in));
  return ForwardOutputs(p, d, training);
}

// Inputs: the forward's inputs, then y, final states, workspace, dy, d final states.
absl::StatusOr<std::vector<TensorSpec>> SequenceGradShape(const std::vector<TensorSpec>& in,
                                                          const Attrs& attrs) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(kGradOp, attrs));
  const size_t n_fwd = p.num_forward_inputs(), n_out = 1 + p.num_states();
  if (in.size() != n_fwd + n_out + 1 + n_out) {
    return OpError(
        kGradOp, in,
        absl::StrCat("expects x, ", p.num_states(), " states, ", p.roles.size(),
                     " role values, y, ", p.num_states(), " final states, the workspace, dy and ",
                     p.num_states(), " final-state gradients"));
  }
  const std::vector<TensorSpec> fwd_in(in.begin(), in.begin() + n_fwd);
  GF_ASSIGN_OR_RETURN(onednn::RnnDims d, CheckForwardInputs(kGradOp, p, fwd_in));
  GF_ASSIGN_OR_RETURN(std::vector<TensorSpec> fwd_out, ForwardOutputs(p, d, true));
  for (size_t k = 0; k < fwd_out.size(); ++k) {
    if (in[n_fwd + k] != fwd_out[k]) {
      return OpError(kGradOp, in,
                     absl::StrCat("input ", n_fwd + k, " must be ", fwd_out[k].ToString(),
                                  " (forward output ", k, ")"));
    }
  }
  for (size_t k = 0; k < n_out; ++k) {
    if (in[n_fwd + n_out + 1 + k] != fwd_out[k]) {
      return OpError(kGradOp, in,
                     absl::StrCat("input ", n_fwd + n_out + 1 + k, " must be ",
                                  fwd_out[k].ToString(), " (gradient of output ", k, ")"));
    }
  }
  return fwd_in;
}

// The role index filling each oneDNN slot (-1: absent, zeros), and the slot that
// holds a negated copy of another (CIFG's forget slot, filled from i's roles; -1: none).
struct SlotRoles {
  std::vector<int> w_layer, w_iter, bias, peephole;
  int tied_slot = -1;
};

SlotRoles SlotRolesOf(const Parsed& p) {
  auto index = [&](const std::string& role) {
    for (size_t k = 0; k < p.roles.size(); ++k) {
      if (p.roles[k] == role) return static_cast<int>(k);
    }
    return -1;
  };
  SlotRoles s;
  const std::vector<std::string>& slots = p.fused().slot_gates;
  const bool tied = p.kind->forget_is_one_minus_input;
  for (size_t k = 0; k < slots.size(); ++k) {
    std::string from = slots[k];
    if (tied && from == "f") {
      from = "i";
      s.tied_slot = static_cast<int>(k);
    }
    s.w_layer.push_back(index(RoleName("W", from)));
    s.w_iter.push_back(index(RoleName("U", from)));
    s.bias.push_back(index(RoleName("b", from)));
  }
  // LBR-GRU's fourth bias slot u': the recurrent bias inside r * (U_o h + b_u').
  if (p.kind->linear_before_reset) s.bias.push_back(index(RoleName("bh", "n")));
  for (const std::string& g : p.kind->peephole_gates) s.peephole.push_back(index(RoleName("p", g)));
  return s;
}

// Pointers into `tensors` (one per role) for each slot, or null.
template <typename Ptr, typename Get>
std::vector<Ptr> SlotPointers(const std::vector<int>& slots, Get&& get) {
  std::vector<Ptr> out;
  for (int k : slots) out.push_back(k < 0 ? nullptr : get(k));
  return out;
}

// The slots' pointers, keyed by the role tensors' write stamps and offsets, so the
// backend packs them again only after they change (an optimizer step).
onednn::RnnParams ParamsOf(const Parsed& p, const std::vector<Tensor>& in) {
  const SlotRoles s = SlotRolesOf(p);
  const size_t first = 1 + p.num_states();
  auto get = [&](int k) { return in[first + k].data<float>(); };
  onednn::RnnParams params{
      SlotPointers<const float*>(s.w_layer, get), SlotPointers<const float*>(s.w_iter, get),
      SlotPointers<const float*>(s.bias, get), SlotPointers<const float*>(s.peephole, get), {}};
  auto key = [&](const std::vector<int>& roles) {
    std::vector<uint64_t> k;
    for (int role : roles) {
      const Tensor* t = role < 0 ? nullptr : &in[first + role];
      k.push_back(t ? t->write_stamp() : 0);
      k.push_back(t ? static_cast<uint64_t>(t->offset()) : 0);
    }
    if (s.tied_slot >= 0) k.push_back(uint64_t{1} << 63 | s.tied_slot);  // not the plain layout
    return k;
  };
  if (s.tied_slot >= 0) {
    params.negated.assign(s.w_layer.size(), false);
    params.negated[s.tied_slot] = true;
  }
  params.w_layer_key = key(s.w_layer);
  params.w_iter_key = key(s.w_iter);
  std::vector<int> vectors = s.bias;
  vectors.insert(vectors.end(), s.peephole.begin(), s.peephole.end());
  params.bias_key = key(vectors);
  return params;
}

std::vector<Tensor> EmptyOutputs(const std::vector<TensorSpec>& specs) {
  std::vector<Tensor> out;
  for (const TensorSpec& s : specs) out.push_back(Tensor::Empty(s.shape, s.dtype));
  return out;
}

absl::StatusOr<std::vector<Tensor>> SequenceKernel(const KernelContext& c) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(kOp, c.attrs));
  GF_ASSIGN_OR_RETURN(bool training, Training(c.attrs));
  std::vector<TensorSpec> specs;
  for (const Tensor& t : c.inputs) specs.push_back({t.shape(), t.dtype()});
  GF_ASSIGN_OR_RETURN(onednn::RnnDims d, CheckForwardInputs(kOp, p, specs));
  std::vector<Tensor> out = EmptyOutputs(c.outputs);
  onednn::RnnForwardArgs args{};
  args.x = c.inputs[0].data<float>();
  args.h0 = c.inputs[1].data<float>();
  args.y = out[0].data<float>();
  args.hT = out[1].data<float>();
  if (onednn::HasCellState(d.cell)) {
    args.c0 = c.inputs[2].data<float>();
    args.cT = out[2].data<float>();
  }
  if (training) {
    Tensor& ws = out.back();
    float* words = ws.data<float>();
    const int64_t n = ws.num_elements();
    words[n - 2] = 0;  // defines the bytes past the workspace, if it does not end on a word
    words[n - 1] = kWorkspaceFresh;
    args.workspace = words;
  }
  GF_RETURN_IF_ERROR(onednn::RnnForward(d, ParamsOf(p, c.inputs), args));
  return out;
}

// The forward-training run again, for its workspace only.
absl::StatusOr<Tensor> RecomputeWorkspace(const Parsed& p, const onednn::RnnDims& d,
                                          const std::vector<Tensor>& in) {
  GF_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, ForwardOutputs(p, d, true));
  std::vector<Tensor> out = EmptyOutputs(specs);
  onednn::RnnForwardArgs args{};
  args.x = in[0].data<float>();
  args.h0 = in[1].data<float>();
  args.y = out[0].data<float>();
  args.hT = out[1].data<float>();
  if (onednn::HasCellState(d.cell)) {
    args.c0 = in[2].data<float>();
    args.cT = out[2].data<float>();
  }
  args.workspace = out.back().raw_data();
  GF_RETURN_IF_ERROR(onednn::RnnForward(d, ParamsOf(p, in), args));
  return out.back();
}

absl::StatusOr<std::vector<Tensor>> SequenceGradKernel(const KernelContext& c) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(kGradOp, c.attrs));
  const size_t n_fwd = p.num_forward_inputs(), n_states = p.num_states();
  const std::vector<TensorSpec> specs(c.outputs.begin(), c.outputs.end());
  GF_ASSIGN_OR_RETURN(onednn::RnnDims d, CheckForwardInputs(kGradOp, p, specs));
  const std::vector<Tensor>& in = c.inputs;
  auto f = [&](size_t i) { return in[i].data<float>(); };
  std::vector<Tensor> out = EmptyOutputs(c.outputs);
  auto g = [&](size_t i) { return out[i].data<float>(); };
  // Positions: y, final states, workspace, dy, final-state gradients.
  const size_t y = n_fwd, ws = n_fwd + 1 + n_states, dy = ws + 1;
  onednn::RnnBackwardArgs args{};
  args.x = f(0);
  args.h0 = f(1);
  args.y = f(y);
  args.hT = f(y + 1);
  // Written in place (see WorkspaceWords): a private protocol with the forward
  // kernel, whose output this is; nothing else reads a workspace.
  float* words = const_cast<float*>(in[ws].data<float>());
  float& mark = words[in[ws].num_elements() - 1];
  Tensor recomputed;
  if (mark == kWorkspaceFresh) {
    mark = kWorkspaceSpent;
    args.workspace = words;
  } else {
    GF_ASSIGN_OR_RETURN(recomputed, RecomputeWorkspace(p, d, in));
    args.workspace = recomputed.raw_data();
  }
  args.dy = f(dy);
  args.dhT = f(dy + 1);
  args.dx = g(0);
  args.dh0 = g(1);
  if (onednn::HasCellState(d.cell)) {
    args.c0 = f(2);
    args.cT = f(y + 2);
    args.dcT = f(dy + 2);
    args.dc0 = g(2);
  }
  const SlotRoles s = SlotRolesOf(p);
  auto role_grad = [&](int k) { return g(1 + n_states + k); };
  onednn::RnnParamGrads grads{
      SlotPointers<float*>(s.w_layer, role_grad), SlotPointers<float*>(s.w_iter, role_grad),
      SlotPointers<float*>(s.bias, role_grad), SlotPointers<float*>(s.peephole, role_grad)};
  // A tied slot's gradients land in scratch and are subtracted from its source's.
  std::vector<std::pair<int, Tensor>> tied;  // (role, the gradient of its negated copy)
  if (s.tied_slot >= 0) {
    const int t = s.tied_slot;
    for (auto [slots, roles] : {std::pair{&grads.w_layer, &s.w_layer},
                                std::pair{&grads.w_iter, &s.w_iter}, std::pair{&grads.bias, &s.bias}}) {
      const int role = (*roles)[t];
      if (role < 0) continue;
      tied.emplace_back(role, Tensor::Empty(c.outputs[1 + n_states + role].shape, DType::kF32));
      (*slots)[t] = tied.back().second.data<float>();
    }
  }
  GF_RETURN_IF_ERROR(onednn::RnnBackward(d, ParamsOf(p, in), args, grads));
  for (auto& [role, scratch] : tied) {
    float* dst = g(1 + n_states + role);
    const float* src = scratch.data<float>();
    for (int64_t j = 0; j < scratch.num_elements(); ++j) dst[j] -= src[j];
  }
  return out;
}

// y, s' = FusedSequence(x, s, θ). Every input's gradient comes from one oneDNN backward
// primitive over the sequence, run on dy, ds' and the forward's workspace:
//   dx, ds, dθ = FusedSequenceGrad(x, s, θ, y, s', workspace, dy, ds')
// The inference form kept no workspace, so its rule runs the training form first.
absl::StatusOr<std::vector<Var>> SequenceGradient(const GradContext& c) {
  GF_ASSIGN_OR_RETURN(Parsed p, ParseAttrs(kOp, c.attrs));
  GF_ASSIGN_OR_RETURN(bool training, Training(c.attrs));
  std::vector<VarOr> in(c.inputs.begin(), c.inputs.end());
  std::vector<Var> outputs = c.outputs;
  if (!training) {
    NoGradGuard no_grad;
    Attrs attrs = c.attrs;
    attrs.Set("training", int64_t{1});
    GF_ASSIGN_OR_RETURN(outputs, ApplyOp(kOp, in, attrs));
  }
  const size_t n_out = 1 + p.num_states();
  in.insert(in.end(), outputs.begin(), outputs.begin() + n_out + 1);  // + the workspace
  in.insert(in.end(), c.output_grads.begin(), c.output_grads.begin() + n_out);
  return ApplyOp(kGradOp, in, {{"kind", p.kind->name}, {"roles", absl::StrJoin(p.roles, ",")}});
}

}  // namespace

void RegisterFusedSequenceOps(OpRegistry& r) {
  OpDef& seq = r.Define(kOp, -1);
  seq.shape_fn = SequenceShape;
  seq.kernel = SequenceKernel;
  seq.gradient = SequenceGradient;
  seq.output_has_gradient = [](size_t output, const Attrs& attrs) {
    const absl::StatusOr<Parsed> p = ParseAttrs(kOp, attrs);
    return !p.ok() || output < 1 + p->num_states();  // not the workspace
  };

  OpDef& grad = r.Define(kGradOp, -1);
  grad.shape_fn = SequenceGradShape;
  grad.kernel = SequenceGradKernel;
  grad.no_gradient =
      "it runs oneDNN's backward primitive, which has no derivative of its own; for second "
      "derivatives differentiate FusedCell steps instead";
}

absl::StatusOr<std::vector<Var>> FusedSequence(const std::string& kind, const Var& x,
                                               const std::vector<Var>& states,
                                               const std::vector<std::string>& roles,
                                               const std::vector<Var>& role_values) {
  std::vector<VarOr> in = {x};
  in.insert(in.end(), states.begin(), states.end());
  in.insert(in.end(), role_values.begin(), role_values.end());
  bool needs_grad = false;
  for (const VarOr& v : in) needs_grad = needs_grad || (v->defined() && v->requires_grad());
  const int64_t training = GradEnabled() && needs_grad ? 1 : 0;
  GF_ASSIGN_OR_RETURN(
      std::vector<Var> out,
      ApplyOp(kOp, in,
              {{"kind", kind}, {"roles", absl::StrJoin(roles, ",")}, {"training", training}}));
  if (out.size() > 1 + states.size()) out.resize(1 + states.size());  // drop the workspace
  return out;
}

}  // namespace gatefuse
