#include "models/nn/sequence_runner.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/executor.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

Var Zeros(const Shape& shape, DType dtype) {
  return Var::Leaf(Tensor::Zeros(shape, dtype), /*requires_grad=*/false);
}

Var IndexTensor(std::vector<int64_t> index) {
  Tensor t = Tensor::Empty(Shape{static_cast<int64_t>(index.size())}, DType::kI64);
  std::copy(index.begin(), index.end(), t.data<int64_t>());
  return Var::Leaf(t, false);
}

bool IsIdentity(const std::vector<int64_t>& index) {
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

absl::Status CheckOptions(const CellRun& run, const Var& x, const DirectionOptions& o) {
  if (x.shape().rank() != 3 || x.shape()[0] < 1 || x.shape()[1] < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("recurrent direction: input must be [T, B, F] with T, B >= 1, got ",
                     x.shape().ToString()));
  }
  const int64_t T = x.shape()[0], B = x.shape()[1];
  if (!o.lengths.empty()) {
    if (static_cast<int64_t>(o.lengths.size()) != B) {
      return absl::InvalidArgumentError(absl::StrCat("recurrent direction: ", o.lengths.size(),
                                                     " lengths for a batch of ", B));
    }
    for (int64_t b = 0; b < B; ++b) {
      if (o.lengths[b] < 0 || o.lengths[b] > T) {
        return absl::InvalidArgumentError(absl::StrCat(
            "recurrent direction: lengths[", b, "] = ", o.lengths[b], " is outside [0, T=", T, "]"));
      }
    }
  }
  if (!o.initial_states.empty()) {
    if (o.initial_states.size() != run.states.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("recurrent direction: ", o.initial_states.size(),
                       " initial states for a cell with ", run.states.size()));
    }
    for (size_t s = 0; s < run.states.size(); ++s) {
      const Var& v = o.initial_states[s];
      if (v.shape() != Shape{B, run.hidden_size} || v.dtype() != x.dtype()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "recurrent direction: initial state '", run.states[s], "' must be ",
            DTypeName(x.dtype()), "[", B, ", ", run.hidden_size, "], got ",
            DTypeName(v.dtype()), v.shape().ToString()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

VarOr GatherRows(const VarOr& table, std::vector<int64_t> index, const Shape& shape) {
  return Reshape(Embedding(table, IndexTensor(std::move(index))), shape);
}

// Sequences run in a common frame where sequence b's real steps are the run steps
// s in [T - L_b, T) whatever the padding. Sorted by length (longest first), the
// sequences running at any step are a prefix of that order, growing at each
// start: segment k covers run steps [t_k, t_k+1) for the first n_k sequences,
// starting from the previous segment's final states extended by the joining
// sequences' initial states. Each segment is one RunGraphSequence call; gathers
// bring the rows in and put the outputs back. src(s, b) is the time step of x
// that run step s of sequence b reads:
//   pre, forward   s                  post, forward  s - (T - L_b)
//   pre, reverse   2T - L_b - 1 - s   post, reverse  T - 1 - s
absl::StatusOr<DirectionResult> RunCellDirection(const CellRun& run, const Var& x,
                                                 const DirectionOptions& options) {
  GF_RETURN_IF_ERROR(CheckOptions(run, x, options));
  const int64_t T = x.shape()[0], B = x.shape()[1], F = x.shape()[2];
  const int64_t H = run.hidden_size;
  const DType dtype = x.dtype();
  std::vector<int64_t> len = options.lengths;
  if (len.empty()) len.assign(B, T);
  const bool full = std::all_of(len.begin(), len.end(), [T](int64_t l) { return l == T; });
  auto initial = [&](size_t s) {
    return options.initial_states.empty() ? Zeros({B, H}, dtype) : options.initial_states[s];
  };

  DirectionResult result;
  if (full && !options.reverse) {
    std::map<std::string, Var> states;
    for (size_t s = 0; s < run.states.size(); ++s) states[run.states[s]] = initial(s);
    GF_ASSIGN_OR_RETURN(GraphSequenceResult r, RunGraphSequence(run.cell, x, states, run.params));
    result.y = r.y;
    for (const std::string& s : run.states) result.final_states.push_back(r.final_states[s]);
    return result;
  }

  const bool post = options.padding == Padding::kPost;
  auto src = [&](int64_t s, int64_t b) {
    const int64_t L = len[b];
    if (!options.reverse) return post ? s - (T - L) : s;
    return post ? T - 1 - s : 2 * T - L - 1 - s;
  };
  std::vector<int64_t> order(B);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return len[a] > len[b]; });
  // Segment starts: the distinct T - L over the non-empty sequences, ascending.
  std::vector<int64_t> starts;
  for (int64_t j = 0; j < B; ++j) {
    const int64_t l = len[order[j]];
    if (l > 0 && (starts.empty() || starts.back() != T - l)) starts.push_back(T - l);
  }

  GF_ASSIGN_OR_RETURN(Var x_rows, Reshape(x, Shape{T * B, F}));
  // row_of[s * B + b]: the row of run step s of sequence b among the concatenated
  // segment outputs; `total` (the last row) is a zero row for padded steps.
  std::vector<int64_t> row_of(T * B, -1);
  std::vector<VarOr> y_rows;
  std::vector<Var> states;
  int64_t total = 0, n = 0;
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t t0 = starts[k], t1 = k + 1 < starts.size() ? starts[k + 1] : T;
    const int64_t prev_n = n;
    while (n < B && len[order[n]] > 0 && T - len[order[n]] <= t0) ++n;
    std::vector<int64_t> index;
    for (int64_t s = t0; s < t1; ++s) {
      for (int64_t j = 0; j < n; ++j) {
        index.push_back(src(s, order[j]) * B + order[j]);
        row_of[s * B + order[j]] = total + (s - t0) * n + j;
      }
    }
    // x itself only when the segment is all of it: every sequence, every step, in order.
    Var xs = x;
    if (!(IsIdentity(index) && n == B && t1 - t0 == T)) {
      GF_ASSIGN_OR_RETURN(xs, GatherRows(x_rows, std::move(index), Shape{t1 - t0, n, F}));
    }
    std::map<std::string, Var> init;
    for (size_t s = 0; s < run.states.size(); ++s) {
      Var joining;
      if (options.initial_states.empty()) {
        joining = Zeros({n - prev_n, H}, dtype);
      } else {
        std::vector<int64_t> rows(order.begin() + prev_n, order.begin() + n);
        GF_ASSIGN_OR_RETURN(joining,
                            GatherRows(options.initial_states[s], rows, Shape{n - prev_n, H}));
      }
      if (prev_n == 0) {
        init[run.states[s]] = joining;
      } else {
        GF_ASSIGN_OR_RETURN(init[run.states[s]], Concat({states[s], joining}, 0));
      }
    }
    GF_ASSIGN_OR_RETURN(GraphSequenceResult r, RunGraphSequence(run.cell, xs, init, run.params));
    states.clear();
    for (const std::string& s : run.states) states.push_back(r.final_states[s]);
    y_rows.push_back(Reshape(r.y, Shape{(t1 - t0) * n, H}));
    total += (t1 - t0) * n;
  }
  y_rows.push_back(Zeros({1, H}, dtype));
  GF_ASSIGN_OR_RETURN(Var table, Concat(y_rows, 0));
  std::vector<int64_t> y_index(T * B, total);
  for (int64_t s = 0; s < T; ++s) {
    for (int64_t b = 0; b < B; ++b) {
      if (row_of[s * B + b] >= 0) y_index[src(s, b) * B + b] = row_of[s * B + b];
    }
  }
  GF_ASSIGN_OR_RETURN(result.y, GatherRows(table, std::move(y_index), Shape{T, B, H}));

  // Final states: the last segment's rows (order[0..n)) and, for the sequences
  // with no real step, their initial states (rows n + b of the table below).
  std::vector<int64_t> final_index(B);
  for (int64_t b = 0; b < B; ++b) final_index[b] = n + b;
  for (int64_t j = 0; j < n; ++j) final_index[order[j]] = j;
  for (size_t s = 0; s < run.states.size(); ++s) {
    if (n == B && IsIdentity(final_index)) {
      result.final_states.push_back(states[s]);
      continue;
    }
    std::vector<VarOr> parts;
    if (n > 0) parts.push_back(states[s]);
    parts.push_back(initial(s));
    GF_ASSIGN_OR_RETURN(Var t, Concat(parts, 0));
    GF_ASSIGN_OR_RETURN(Var f, GatherRows(t, final_index, Shape{B, H}));
    result.final_states.push_back(f);
  }
  return result;
}

}  // namespace gatefuse
