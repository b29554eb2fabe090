// ONNX's Scan (opset 9 and later) in a Network (network.h): the body, a subgraph
// built once, runs on the tape once per iteration, its ops one by one like the
// network's other non-recurrent nodes. N state variables are carried from one
// iteration to the next; each of the M scan inputs is cut along its scan axis, in
// its direction; each of the K scan outputs is the iterations' values stacked along
// its axis, in its direction.
//
//   inputs:  s_1 .. s_N, x_1 .. x_M          outputs: s_1' .. s_N', y_1 .. y_K
//   body:    (s, x_t) -> (s', y_t)
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "models/onnx/network.h"
#include "models/onnx/network_ops_internal.h"
#include "models/onnx/node_attrs.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using network_ops::Invalid;

// One attribute list of Scan: `count` entries, each 0 or 1 for a direction, an
// axis otherwise; zeros when absent.
absl::StatusOr<std::vector<int64_t>> ScanList(const NodeAttrs& a, const std::string& name,
                                              int64_t count, bool direction) {
  GF_ASSIGN_OR_RETURN(std::vector<int64_t> v, a.Ints(name));
  if (v.empty()) v.assign(count, 0);
  if (static_cast<int64_t>(v.size()) != count) {
    return Invalid(a, absl::StrCat(name, " has ", v.size(), " entries for ", count, " values"));
  }
  for (int64_t x : v) {
    if (direction && x != 0 && x != 1) {
      return Invalid(a, absl::StrCat(name, " holds ", x, " (0 forward, 1 reverse)"));
    }
  }
  return v;
}

// `axis` of a value of rank `rank` in [0, rank); InvalidArgument naming `what`.
absl::StatusOr<int64_t> Axis(const NodeAttrs& a, int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank) {
    return Invalid(a, absl::StrCat(what, ": axis ", axis, " is outside [", -rank, ", ", rank, ")"));
  }
  return axis < 0 ? axis + rank : axis;
}

Shape WithoutAxis(const Shape& s, int64_t axis) {
  std::vector<int64_t> dims;
  for (int64_t k = 0; k < s.rank(); ++k) {
    if (k != axis) dims.push_back(s[k]);
  }
  return Shape(dims);
}

Shape WithUnitAxis(const Shape& s, int64_t axis) {
  std::vector<int64_t> dims;
  for (int64_t k = 0; k <= s.rank(); ++k) {
    if (k == axis) dims.push_back(1);
    if (k < s.rank()) dims.push_back(s[k]);
  }
  return Shape(dims);
}

}  // namespace

absl::StatusOr<NodeFn> MakeScanNodeFn(const NetworkNodeProto& node, const NodeContext& context) {
  const NodeAttrs a(node);
  if (context.opset < 9) {
    return Invalid(a, absl::StrCat("Scan of opset ", context.opset,
                                   " (a batch axis and sequence_lens) is not supported; "
                                   "gatefuse runs Scan from opset 9"));
  }
  GF_ASSIGN_OR_RETURN(const NetworkProto* body_proto, a.Graph("body"));
  if (body_proto == nullptr) return Invalid(a, "has no body");
  GF_ASSIGN_OR_RETURN(const int64_t M, a.Int("num_scan_inputs", 0));
  const int64_t N = node.inputs_size() - M;
  if (M < 1 || N < 0) {
    return Invalid(a, absl::StrCat("num_scan_inputs ", M, " for ", node.inputs_size(), " inputs"));
  }
  for (const std::string& in : node.inputs()) {
    if (in.empty()) return Invalid(a, "every input is required");
  }
  if (body_proto->inputs_size() != N + M) {
    return Invalid(a, absl::StrCat("the body takes ", body_proto->inputs_size(), " inputs; ", N,
                                   " states and ", M, " scan inputs need ", N + M));
  }
  const int64_t K = body_proto->outputs_size() - N;
  if (K < 0 || node.outputs_size() != N + K) {
    return Invalid(a, absl::StrCat("the body gives ", body_proto->outputs_size(),
                                   " outputs and the node ", node.outputs_size(), "; ", N,
                                   " states need ", N, " plus one per scan output in both"));
  }
  GF_ASSIGN_OR_RETURN(const std::vector<int64_t> in_axes, ScanList(a, "scan_input_axes", M, false));
  GF_ASSIGN_OR_RETURN(const std::vector<int64_t> in_dirs,
                      ScanList(a, "scan_input_directions", M, true));
  GF_ASSIGN_OR_RETURN(const std::vector<int64_t> out_axes,
                      ScanList(a, "scan_output_axes", K, false));
  GF_ASSIGN_OR_RETURN(const std::vector<int64_t> out_dirs,
                      ScanList(a, "scan_output_directions", K, true));
  GF_RETURN_IF_ERROR(a.CheckAllRead());
  absl::StatusOr<NetworkBody> built = NetworkBody::Create(*body_proto, context);
  if (!built.ok()) return Invalid(a, absl::StrCat("body: ", built.status().message()));
  const NetworkBody body = *std::move(built);
  if (context.path_lines != nullptr) {
    context.path_lines->push_back(absl::StrCat("path: tape (Scan node '", node.name(), "': ",
                                               body.num_nodes(),
                                               " body ops, one by one at each iteration)"));
  }
  return NodeFn([=](const std::vector<Var>& in,
                    const std::map<std::string, Var>&) -> absl::StatusOr<std::vector<Var>> {
    std::vector<Var> states(in.begin(), in.begin() + N);
    const std::vector<Var> outer(in.begin() + N + M, in.end());
    std::vector<int64_t> axes(M);
    std::vector<Shape> step_shapes(M);  // a scan input's slice, its scan axis dropped
    int64_t T = -1;
    for (int64_t m = 0; m < M; ++m) {
      const Var& x = in[N + m];
      const std::string what = absl::StrCat("scan input ", m, " '", node.inputs(N + m), "'");
      if (!IsFloating(x.dtype())) return Invalid(a, what + " must be floating");
      GF_ASSIGN_OR_RETURN(axes[m], Axis(a, in_axes[m], x.shape().rank(), what));
      step_shapes[m] = WithoutAxis(x.shape(), axes[m]);
      const int64_t length = x.shape()[axes[m]];
      if (T >= 0 && length != T) {
        return Invalid(a, absl::StrCat(what, " has ", length, " iterations along its axis, the "
                                       "first scan input ", T));
      }
      T = length;
    }
    if (T == 0) return Invalid(a, "scans zero iterations (the outputs' shapes are unknown)");
    std::vector<std::vector<Var>> ys(K);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<Var> step = states;
      for (int64_t m = 0; m < M; ++m) {
        const Var& x = in[N + m];
        const int64_t i = in_dirs[m] ? T - 1 - t : t;
        GF_ASSIGN_OR_RETURN(Var x_t, Slice(x, axes[m], i, i + 1));
        GF_ASSIGN_OR_RETURN(x_t, Reshape(x_t, step_shapes[m]));
        step.push_back(std::move(x_t));
      }
      absl::StatusOr<std::vector<Var>> out = body.Run(step, outer);
      if (!out.ok()) {
        return Invalid(a, absl::StrCat("body, iteration ", t, ": ", out.status().message()));
      }
      for (int64_t n = 0; n < N; ++n) {
        if ((*out)[n].shape() != states[n].shape() || (*out)[n].dtype() != states[n].dtype()) {
          return Invalid(a, absl::StrCat("the body turns state ", n, " '", node.inputs(n), "' ",
                                         states[n].shape().ToString(), " into ",
                                         (*out)[n].shape().ToString()));
        }
        states[n] = (*out)[n];
      }
      for (int64_t k = 0; k < K; ++k) {
        const Var& y = (*out)[N + k];
        if (!IsFloating(y.dtype())) return Invalid(a, absl::StrCat("scan output ", k, " is not floating"));
        if (!ys[k].empty() && y.shape() != ys[k][0].shape()) {
          return Invalid(a, absl::StrCat("scan output ", k, " is ", ys[k][0].shape().ToString(),
                                         " at iteration 0 and ", y.shape().ToString(), " at ", t));
        }
        ys[k].push_back(y);
      }
    }
    std::vector<Var> result = states;
    for (int64_t k = 0; k < K; ++k) {
      const Shape s = ys[k][0].shape();
      GF_ASSIGN_OR_RETURN(const int64_t axis,
                          Axis(a, out_axes[k], s.rank() + 1, absl::StrCat("scan output ", k)));
      if (out_dirs[k]) std::reverse(ys[k].begin(), ys[k].end());
      const Shape unit = WithUnitAxis(s, axis);
      std::vector<VarOr> parts;
      for (const Var& y : ys[k]) parts.push_back(Reshape(y, unit));
      GF_ASSIGN_OR_RETURN(Var stacked, Concat(parts, axis));
      result.push_back(std::move(stacked));
    }
    return result;
  });
}

}  // namespace gatefuse
