// The .cell compiler: a parsed CellSource with bound sizes becomes a verified
// cell graph (cell_language.h). (A cell graph becomes a Cell in cell_from_graph.cc.)
#include "models/cells/cell_language.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/executor.h"
#include "graph/verifier.h"
#include "models/cells/cell_language_internal.h"
#include "ops/registry.h"

namespace gatefuse {
namespace {

using cell_language_internal::ElementwiseFunction;
using cell_language_internal::ElementwiseFunctions;
using cell_language_internal::ErrorAt;
using cell_language_internal::FormatNumber;
using cell_language_internal::IsReduction;
using cell_language_internal::IsSplit;
using cell_language_internal::kFunctionList;
using cell_language_internal::kLayerNormEpsilon;
using cell_language_internal::kMaxDim;
using cell_language_internal::kMaxElements;
using cell_language_internal::ReductionSignature;
using cell_language_internal::ScalarLiteral;
using cell_language_internal::Signature;
using cell_language_internal::SplitCount;
using cell_language_internal::StartOf;
using cell_language_internal::Validate;

struct Value {
  bool is_number = false;
  double number = 0;
  ValueRef ref;
};

class Compiler {
 public:
  Compiler(const CellSource& src, const std::map<std::string, int64_t>& sizes, DType dtype,
           int64_t batch)
      : src_(src), sizes_(sizes), dtype_(dtype), batch_(batch), g_(src.name) {}

  absl::StatusOr<Graph> Run() {
    if (!IsFloating(dtype_)) {
      return Err(src_.name_location, absl::StrCat("a cell computes in f32 or f64, not ",
                                                  DTypeName(dtype_)));
    }
    if (batch_ <= 0 || batch_ > kMaxDim) {
      return Err(src_.name_location, absl::StrCat("the batch size must be positive, got ", batch_));
    }
    GF_RETURN_IF_ERROR(AddInput(src_.input, InputRole::kInput));
    for (const Declaration& s : src_.states) GF_RETURN_IF_ERROR(AddInput(s, InputRole::kState));
    for (const Declaration& p : src_.params) GF_RETURN_IF_ERROR(AddInput(p, InputRole::kParam));
    std::map<std::string, ValueRef> next;
    for (const Statement& st : src_.statements) {
      if (!st.is_next && IsSplit(st.value)) {
        GF_RETURN_IF_ERROR(CompileSplit(st));
        continue;
      }
      GF_ASSIGN_OR_RETURN(Value v, Eval(st.value));
      const std::string& target = st.targets[0];
      if (v.is_number) {
        return Err(st.value.location,
                   absl::StrCat(st.is_next ? "the next value of " : "the value of ", target,
                                " is the number ", FormatNumber(v.number),
                                "; a cell value must be a tensor (numbers only combine with "
                                "tensors, as in `1 - z`)"));
      }
      if (!st.is_next) {
        env_[target] = v.ref;
        continue;
      }
      auto state = env_.find(target);
      if (state == env_.end()) return Err(st.location, absl::StrCat("unknown state ", target));
      const TensorSpec want = g_.spec(state->second);
      if (g_.spec(v.ref) != want) {
        return Err(st.value.location,
                   absl::StrCat("next ", target, " has shape ", g_.spec(v.ref).ToString(),
                                " but state ", target, " is ", want.ToString()));
      }
      next[target] = v.ref;
    }
    for (const Declaration& s : src_.states) {
      auto it = next.find(s.name);
      if (it == next.end()) {
        return Err(s.location, absl::StrCat("state ", s.name, " is never given a next value"));
      }
      g_.AddOutput(s.name, it->second);
    }
    if (absl::Status v = Verify(g_); !v.ok()) {
      return Err(src_.name_location, absl::StrCat("internal error: the compiled graph does not "
                                                  "verify: ", v.message()));
    }
    return std::move(g_);
  }

 private:
  absl::Status Err(SourceLocation loc, absl::string_view what) const {
    return ErrorAt(src_.filename, loc, what);
  }

  absl::StatusOr<int64_t> EvalSize(const SizeExpr& size) const {
    int64_t sum = 0, v = 1;
    for (const SizeFactor& f : size.factors) {
      if (f.starts_term) {
        if (v > kMaxDim - sum) {
          return Err(size.location, absl::StrCat("size too large (more than ", kMaxDim, ")"));
        }
        sum += v;
        v = 1;
      }
      int64_t x = f.value;
      if (!f.symbol.empty()) {
        auto it = sizes_.find(f.symbol);
        if (it == sizes_.end()) {
          return Err(f.location, absl::StrCat("size symbol ", f.symbol,
                                              " is not bound; pass --size ", f.symbol, "=<n>"));
        }
        x = it->second;
        if (x <= 0) {
          return Err(f.location,
                     absl::StrCat("size symbol ", f.symbol, " must be positive, got ", x));
        }
      }
      if (x <= 0 || x > kMaxDim / v) {
        return Err(size.location, absl::StrCat("size too large (more than ", kMaxDim, ")"));
      }
      v *= x;
    }
    if (v > kMaxDim - sum) {
      return Err(size.location, absl::StrCat("size too large (more than ", kMaxDim, ")"));
    }
    return sum + v;
  }

  // Every value of the graph, declared or computed, has at most kMaxElements
  // elements: then no element count overflows int64 and no broadcast such as
  // A[N,1,1] * B[1,N,1] * C[1,1,N] reaches an allocator with a size it cannot
  // take, even in a value nothing uses.
  static bool TooManyElements(const Shape& shape) {
    int64_t elements = 1;
    for (int i = 0; i < shape.rank(); ++i) {
      if (shape[i] > kMaxElements / elements) return true;
      elements *= std::max<int64_t>(shape[i], 1);
    }
    return false;
  }

  absl::Status AddInput(const Declaration& d, InputRole role) {
    std::vector<int64_t> dims;
    if (role != InputRole::kParam) dims.push_back(batch_);
    for (const SizeExpr& s : d.shape) {
      GF_ASSIGN_OR_RETURN(int64_t n, EvalSize(s));
      dims.push_back(n);
    }
    const TensorSpec spec{Shape(std::move(dims)), dtype_};
    if (TooManyElements(spec.shape)) {
      return Err(d.location, absl::StrCat(d.name, " is ", spec.ToString(), ": more than ",
                                          kMaxElements, " elements"));
    }
    const NodeId id = g_.AddInput(d.name, role, spec);
    if (role == InputRole::kParam && d.init) g_.mutable_node(id).attrs.Set(kParamInitAttr, *d.init);
    env_[d.name] = {id, 0};
    return absl::OkStatus();
  }

  absl::StatusOr<ValueRef> AddOp(SourceLocation loc, const std::string& op,
                                 const std::vector<ValueRef>& inputs, Attrs attrs = {}) {
    absl::StatusOr<NodeId> id = g_.AddNode(op, inputs, std::move(attrs));
    if (!id.ok()) return Err(loc, id.status().message());
    const ValueRef out{*id, 0};
    if (TooManyElements(g_.spec(out).shape)) {
      return Err(loc, absl::StrCat(op, " gives ", g_.spec(out).ToString(), ": more than ",
                                   kMaxElements, " elements"));
    }
    if (op == "Mean" || op == "Sum" || (IsElementwise(op) && FromReducedOnly(inputs))) {
      reduced_.insert(*id);
    }
    return out;
  }

  static bool IsElementwise(const std::string& op) {
    absl::StatusOr<const OpDef*> def = OpRegistry::Global().Find(op);
    return def.ok() && (*def)->lowering.has_value();
  }

  // Every input is a per-example [B, 1] result (a reduction's, or computed from
  // those and numbers only), and one is not a number.
  bool FromReducedOnly(const std::vector<ValueRef>& inputs) const {
    bool any = false;
    for (const ValueRef& v : inputs) {
      if (g_.node(v.node).op == kConstantOp) continue;
      if (!reduced_.count(v.node)) return false;
      any = true;
    }
    return any;
  }

  // A number where the op needs a tensor: a scalar Constant of the cell's dtype.
  ValueRef ConstantOf(double v) { return {g_.AddConstant(Tensor::Full({}, dtype_, v)), 0}; }
  ValueRef TensorOf(const Value& v) { return v.is_number ? ConstantOf(v.number) : v.ref; }

  absl::Status CompileSplit(const Statement& st) {
    const Expr& call = st.value;
    GF_ASSIGN_OR_RETURN(Value z, Eval(call.args[0]));
    if (z.is_number) return Err(call.location, "split needs a tensor, got a number");
    const std::optional<int64_t> count = SplitCount(call.args[1]);
    if (!count || *count != static_cast<int64_t>(st.targets.size())) {
      return Err(call.location, "split's count must equal the number of names assigned");
    }
    const TensorSpec spec = g_.spec(z.ref);
    const int rank = spec.shape.rank();
    if (rank == 0) return Err(call.location, "split: cannot split a scalar");
    const int64_t features = spec.shape[rank - 1];
    if (features % *count != 0) {
      return Err(call.location, absl::StrCat("split: the feature size ", features, " of ",
                                             spec.ToString(), " does not divide into ", *count,
                                             " equal parts"));
    }
    const int64_t part = features / *count;
    for (int64_t i = 0; i < *count; ++i) {
      GF_ASSIGN_OR_RETURN(
          env_[st.targets[i]],
          AddOp(call.location, "Slice", {z.ref},
                {{"axis", int64_t{rank - 1}}, {"start", i * part}, {"end", (i + 1) * part}}));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value> Number(SourceLocation loc, double v) const {
    if (!std::isfinite(v)) return Err(loc, "the number this computes is not finite");
    Value out;
    out.is_number = true;
    out.number = v;
    return out;
  }

  // A function of a number is a number, computed by the op's own kernel (in f64,
  // on a scalar), so that folding and running agree for every function; a value
  // outside the op's domain, such as sqrt(-1), is not finite and an error.
  absl::StatusOr<Value> Fold(SourceLocation loc, const std::string& op,
                             const std::vector<double>& numbers, const Attrs& attrs) const {
    absl::StatusOr<const OpDef*> def = OpRegistry::Global().Find(op);
    if (!def.ok()) return Err(loc, def.status().message());
    std::vector<Tensor> in;
    for (double v : numbers) in.push_back(Tensor::Full({}, DType::kF64, v));
    absl::StatusOr<std::vector<Tensor>> y = RunOp(**def, in, attrs);
    if (!y.ok()) return Err(loc, y.status().message());
    return Number(loc, (*y)[0].At(0));
  }

  absl::StatusOr<Value> Wrap(absl::StatusOr<ValueRef> ref) const {
    if (!ref.ok()) return ref.status();
    Value out;
    out.ref = *ref;
    return out;
  }

  absl::StatusOr<Value> Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kNumber:
        return Number(e.location, e.number);
      case Expr::Kind::kName: {
        auto it = env_.find(e.name);
        if (it == env_.end()) return Err(e.location, absl::StrCat("unknown name '", e.name, "'"));
        Value v;
        v.ref = it->second;
        return v;
      }
      case Expr::Kind::kNeg: {
        if (e.args.size() != 1) return Err(e.location, "unary '-' takes one operand");
        GF_ASSIGN_OR_RETURN(Value x, Eval(e.args[0]));
        if (x.is_number) return Number(e.location, -x.number);
        return Wrap(AddOp(e.location, "Neg", {x.ref}));
      }
      case Expr::Kind::kBinary:
        return EvalBinary(e);
      case Expr::Kind::kCall:
        return EvalCall(e);
    }
    return Err(e.location, "malformed expression");
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e) {
    if (e.args.size() != 2) return Err(e.location, "a binary operator takes two operands");
    GF_ASSIGN_OR_RETURN(Value a, Eval(e.args[0]));
    GF_ASSIGN_OR_RETURN(Value b, Eval(e.args[1]));
    if (e.op == '@') {
      if (a.is_number || b.is_number) {
        return Err(e.location, absl::StrCat("'@' needs a tensor on each side; the ",
                                            a.is_number ? "left" : "right", " side is the number ",
                                            FormatNumber(a.is_number ? a.number : b.number)));
      }
      return Wrap(AddOp(e.location, "MatMul", {a.ref, b.ref},
                          {{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{0}}}));
    }
    if (e.op != '+' && e.op != '-' && e.op != '*' && e.op != '/') {
      return Err(e.location, "unknown operator");
    }
    if (e.op == '/' && b.is_number && b.number == 0) {
      return Err(e.location, a.is_number ? "division of a number by 0"
                                         : "division of a tensor by the number 0");
    }
    if (a.is_number && b.is_number) {
      return Number(e.location, e.op == '+'   ? a.number + b.number
                                : e.op == '-' ? a.number - b.number
                                : e.op == '*' ? a.number * b.number
                                              : a.number / b.number);
    }
    if (e.op == '/') {
      // t / s is t * (1/s), as ops/ops.h's operator/; s / t divides a scalar Constant.
      if (b.is_number) {
        GF_ASSIGN_OR_RETURN(Value inverse, Number(e.location, 1 / b.number));
        return Wrap(AddOp(e.location, "MulScalar", {a.ref}, {{"value", inverse.number}}));
      }
      return Wrap(AddOp(e.location, "Div", {TensorOf(a), b.ref}));
    }
    // A number with a tensor: the scalar ops ops/ops.h's operators use.
    if (a.is_number || b.is_number) {
      const double s = a.is_number ? a.number : b.number;
      const ValueRef t = a.is_number ? b.ref : a.ref;
      switch (e.op) {
        case '+': return Wrap(AddOp(e.location, "AddScalar", {t}, {{"value", s}}));
        case '*': return Wrap(AddOp(e.location, "MulScalar", {t}, {{"value", s}}));
        default:
          return a.is_number ? Wrap(AddOp(e.location, "RSubScalar", {t}, {{"value", s}}))
                             : Wrap(AddOp(e.location, "AddScalar", {t}, {{"value", -s}}));
      }
    }
    const std::string op = e.op == '+' ? "Add" : e.op == '-' ? "Sub" : "Mul";
    return Wrap(AddOp(e.location, op, {a.ref, b.ref}));
  }

  // The value a reduction reads: a [B, n] tensor not already one value per example.
  absl::StatusOr<ValueRef> ReducibleArg(const Expr& call, const Value& x) const {
    const std::string sig = ReductionSignature(call.name);
    if (x.is_number) {
      return Err(call.location, absl::StrCat(sig, ": e must be a tensor, got the number ",
                                             FormatNumber(x.number)));
    }
    const TensorSpec& spec = g_.spec(x.ref);
    if (spec.shape.rank() != 2) {
      return Err(call.location, absl::StrCat(sig, " works on the feature axis of a [B, n] value; "
                                             "e is ", spec.ToString()));
    }
    if (reduced_.count(x.ref.node)) {
      return Err(call.location,
                 absl::StrCat(sig, ": e is ", spec.ToString(), ", already one value per example "
                              "(computed from mean or sum alone); reducing it again gives it back"));
    }
    return x.ref;
  }

  // mean(e), sum(e): Mean / Sum over axis 1, keepdims, [B, n] -> [B, 1].
  // layer_norm(e, gain, shift) = (e - m) / sqrt(mean((e - m)^2) + eps) * gain + shift,
  // m = mean(e), in the primitive ops the passes and the compiled plan know.
  absl::StatusOr<Value> EvalReduction(const Expr& e) {
    const std::string sig = ReductionSignature(e.name);
    const size_t arity = e.name == "layer_norm" ? 3 : 1;
    if (e.args.size() != arity) {
      return Err(e.location, absl::StrCat(e.name, " takes ", arity, " argument",
                                          arity == 1 ? "" : "s", ": ", sig));
    }
    GF_ASSIGN_OR_RETURN(Value x, Eval(e.args[0]));
    GF_ASSIGN_OR_RETURN(const ValueRef v, ReducibleArg(e, x));
    const SourceLocation loc = e.location;
    auto reduce = [&](const std::string& op, ValueRef in) {
      return AddOp(loc, op, {in}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{1}}});
    };
    if (e.name != "layer_norm") return Wrap(reduce(e.name == "mean" ? "Mean" : "Sum", v));

    const int64_t n = g_.spec(v).shape[1];
    std::vector<ValueRef> affine;  // gain, shift
    for (size_t k = 1; k <= 2; ++k) {
      const char* what = k == 1 ? "gain" : "shift";
      GF_ASSIGN_OR_RETURN(Value p, Eval(e.args[k]));
      if (p.is_number) {
        return Err(loc, absl::StrCat(sig, ": ", what, " must be a [", n,
                                     "] tensor (one value per feature), got the number ",
                                     FormatNumber(p.number)));
      }
      if (!(g_.spec(p.ref).shape == Shape{n})) {
        return Err(loc, absl::StrCat(sig, ": ", what, " is ", g_.spec(p.ref).ToString(),
                                     " but e is ", g_.spec(v).ToString(), "; ", what,
                                     " must be [", n, "], one value per feature"));
      }
      affine.push_back(p.ref);
    }
    GF_ASSIGN_OR_RETURN(const ValueRef m, reduce("Mean", v));
    GF_ASSIGN_OR_RETURN(const ValueRef d, AddOp(loc, "Sub", {v, m}));
    GF_ASSIGN_OR_RETURN(const ValueRef d2, AddOp(loc, "Mul", {d, d}));
    GF_ASSIGN_OR_RETURN(const ValueRef var, reduce("Mean", d2));
    GF_ASSIGN_OR_RETURN(const ValueRef var_eps,
                        AddOp(loc, "AddScalar", {var}, {{"value", kLayerNormEpsilon}}));
    GF_ASSIGN_OR_RETURN(const ValueRef sd, AddOp(loc, "Sqrt", {var_eps}));
    GF_ASSIGN_OR_RETURN(const ValueRef normalised, AddOp(loc, "Div", {d, sd}));
    GF_ASSIGN_OR_RETURN(const ValueRef scaled, AddOp(loc, "Mul", {normalised, affine[0]}));
    return Wrap(AddOp(loc, "Add", {scaled, affine[1]}));
  }

  absl::StatusOr<Value> EvalCall(const Expr& e) {
    auto fn = ElementwiseFunctions().find(e.name);
    if (fn != ElementwiseFunctions().end()) {
      const ElementwiseFunction& f = fn->second;
      if (e.args.size() != f.tensors + f.scalars.size()) {
        return Err(e.location, absl::StrCat(e.name, " takes ", f.tensors + f.scalars.size(),
                                            " arguments: ", Signature(e.name, f)));
      }
      std::vector<Value> xs;
      bool all_numbers = true;
      for (int k = 0; k < f.tensors; ++k) {
        GF_ASSIGN_OR_RETURN(Value x, Eval(e.args[k]));
        all_numbers = all_numbers && x.is_number;
        xs.push_back(x);
      }
      Attrs attrs;
      for (size_t k = 0; k < f.scalars.size(); ++k) {
        const Expr& arg = e.args[k + f.tensors];
        const std::optional<double> s = ScalarLiteral(arg);
        if (!s) {
          return Err(StartOf(arg),
                     absl::StrCat(Signature(e.name, f), ": ", f.scalars[k], " must be a number"));
        }
        attrs.Set(f.scalars[k], *s);
      }
      if (all_numbers) {
        std::vector<double> numbers;
        for (const Value& x : xs) numbers.push_back(x.number);
        return Fold(e.location, f.op, numbers, attrs);
      }
      std::vector<ValueRef> in;
      for (const Value& x : xs) in.push_back(TensorOf(x));
      return Wrap(AddOp(e.location, f.op, in, std::move(attrs)));
    }
    if (IsReduction(e.name)) return EvalReduction(e);
    if (e.name == "concat") {
      if (e.args.empty()) return Err(e.location, "concat takes at least one argument, got 0");
      std::vector<ValueRef> parts;
      for (size_t i = 0; i < e.args.size(); ++i) {
        GF_ASSIGN_OR_RETURN(Value x, Eval(e.args[i]));
        if (x.is_number) {
          return Err(e.args[i].location,
                     absl::StrCat("concat needs tensors; argument ", i + 1, " is a number"));
        }
        parts.push_back(x.ref);
      }
      return Wrap(AddOp(e.location, "Concat", parts, {{"axis", int64_t{-1}}}));
    }
    if (e.name == "split") {
      return Err(e.location,
                 "split(...) must be the whole right side of an assignment, as in "
                 "`a, b = split(z, 2)`");
    }
    return Err(e.location,
               absl::StrCat("unknown function '", e.name, "'; expected one of ", kFunctionList));
  }

  const CellSource& src_;
  const std::map<std::string, int64_t>& sizes_;
  DType dtype_;
  int64_t batch_;
  Graph g_;
  std::map<std::string, ValueRef> env_;
  // Nodes whose value is per example, [B, 1]: reductions and what is computed
  // elementwise from them alone.
  std::set<NodeId> reduced_;
};

}  // namespace

absl::StatusOr<Graph> CompileCell(const CellSource& src, const std::map<std::string, int64_t>& sizes,
                                  DType dtype, int64_t batch) {
  GF_RETURN_IF_ERROR(Validate(src));
  return Compiler(src, sizes, dtype, batch).Run();
}

}  // namespace gatefuse
