// Timing harness for the compiled custom-cell path (graph/compiled_sequence.h).
// Prints, for training (forward + backward) runs, the best time of a few runs:
//   - LSTM compiled with recognition off (the custom path) vs oneDNN's own LSTM
//     primitive (RnnForward + RnnBackward) at T=100, B=64, I=H=512: GFLOP/s ratio;
//   - mgu at the same sizes vs the plan's GEMMs run back to back by oneDNN;
//   - the custom path vs the op-by-op tape path at T=100, B=16, I=H=128.
// Usage: compiled_sequence_benchmark [REPS [lstm|mgu|small|lstm-custom|small-custom]]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/compiled_sequence.h"
#include "graph/executor.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "ops/onednn.h"
#include "ops/onednn_rnn.h"
#include "ops/ops.h"
#include "passes/standard_pipeline.h"

namespace gatefuse {
namespace {

int reps = 5;
std::string only;  // "lstm", "mgu" or "small": one section

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    std::exit(1);
  }
}

// The best time of `reps` runs of each function, run alternately after one warm-up
// run each (plans, primitives), so that load from other processes on this shared
// machine hits both alike; the minimum is the least disturbed run.
std::vector<double> BestSeconds(const std::vector<std::function<absl::Status()>>& fns) {
  std::vector<double> best(fns.size(), 1e30);
  for (const auto& fn : fns) Check(fn());
  for (int r = 0; r < reps; ++r) {
    for (size_t k = 0; k < fns.size(); ++k) {
      const auto start = std::chrono::steady_clock::now();
      Check(fns[k]());
      best[k] = std::min(
          best[k],
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  return best;
}

absl::StatusOr<Graph> Compile(const Cell& cell, bool recognize) {
  GF_ASSIGN_OR_RETURN(Graph g, TraceCell(cell));
  Pipeline p;
  AddStandardPasses(p, {.recognize = recognize});
  GF_RETURN_IF_ERROR(p.Run(g).status());
  return g.Compact();
}

struct Setup {
  Cell cell;
  Var x;
  std::map<std::string, Var> states, params;
  std::vector<Var> state_list;
};

Setup MakeSetup(const std::string& kind, int64_t T, int64_t B, int64_t I, int64_t H) {
  Setup s{*BuiltinCell(kind, I, H), {}, {}, {}, {}};
  s.x = Var::Leaf(Tensor::Uniform({T, B, I}, DType::kF32, 1, -1, 1), true);
  for (const std::string& st : s.cell.states) {
    s.states[st] = Var::Leaf(Tensor::Uniform({B, H}, DType::kF32, 2, -1, 1), true);
    s.state_list.push_back(s.states[st]);
  }
  for (const auto& [name, v] : InitParams(s.cell, DType::kF32, 3)) s.params[name] = v;
  return s;
}

std::vector<Var> Leaves(const Setup& s) {
  std::vector<Var> wrt = {s.x};
  for (const auto& [n, v] : s.states) wrt.push_back(v);
  for (const auto& [n, v] : s.params) wrt.push_back(v);
  return wrt;
}

absl::Status TrainGraph(const Graph& g, const Setup& s) {
  GF_ASSIGN_OR_RETURN(GraphSequenceResult r, RunGraphSequence(g, s.x, s.states, s.params));
  GF_ASSIGN_OR_RETURN(Var loss, Sum(r.y));
  return Gradients({loss}, {Tensor::Full({}, DType::kF32, 1.0)}, Leaves(s)).status();
}

absl::Status TrainTape(const Setup& s) {
  ParamMap params(s.params.begin(), s.params.end());
  GF_ASSIGN_OR_RETURN(SequenceResult r, RunSequence(s.cell, s.x, s.state_list, params));
  GF_ASSIGN_OR_RETURN(Var loss, Sum(r.y));
  return Gradients({loss}, {Tensor::Full({}, DType::kF32, 1.0)}, Leaves(s)).status();
}

// oneDNN's LSTM primitive, forward training then backward, on dense buffers.
absl::Status TrainOneDnnLstm(int64_t T, int64_t B, int64_t I, int64_t H) {
  static std::vector<float>* buf = nullptr;
  static std::vector<float>* grads = nullptr;
  static std::vector<char>* ws = nullptr;
  const onednn::RnnDims d{onednn::RnnCell::kLstm, T, B, I, H};
  const int64_t n_x = T * B * I, n_y = T * B * H, n_s = B * H;
  const int64_t n_w = 4 * I * H, n_u = 4 * H * H, n_b = 4 * H;
  if (buf == nullptr) {
    GF_ASSIGN_OR_RETURN(int64_t bytes, onednn::RnnWorkspaceBytes(d));
    buf = new std::vector<float>(n_x + n_y + 4 * n_s + n_w + n_u + n_b, 0.01f);
    grads = new std::vector<float>(n_x + n_y + 4 * n_s + n_w + n_u + n_b, 0.0f);
    ws = new std::vector<char>(bytes);
  }
  float* p = buf->data();
  float *x = p, *y = x + n_x, *h0 = y + n_y, *c0 = h0 + n_s, *hT = c0 + n_s, *cT = hT + n_s,
        *w = cT + n_s, *u = w + n_w, *b = u + n_u;
  float* q = grads->data();
  float *dx = q, *dy = dx + n_x, *dh0 = dy + n_y, *dc0 = dh0 + n_s, *dhT = dc0 + n_s,
        *dcT = dhT + n_s, *dw = dcT + n_s, *du = dw + n_w, *db = du + n_u;
  onednn::RnnParams params;
  onednn::RnnParamGrads pg;
  for (int g = 0; g < 4; ++g) {
    params.w_layer.push_back(w + g * I * H);
    params.w_iter.push_back(u + g * H * H);
    params.bias.push_back(b + g * H);
    pg.w_layer.push_back(dw + g * I * H);
    pg.w_iter.push_back(du + g * H * H);
    pg.bias.push_back(db + g * H);
  }
  params.w_layer_key = params.w_iter_key = params.bias_key = {1};  // unchanged: packed once
  GF_RETURN_IF_ERROR(onednn::RnnForward(d, params, {x, h0, c0, y, hT, cT, ws->data()}));
  onednn::RnnBackwardArgs args{x, h0, c0, y, hT, cT, ws->data(), dy, dhT, dcT, dx, dh0, dc0};
  return onednn::RnnBackward(d, params, args, pg);
}

// The plan's GEMMs, run back to back by oneDNN on dense buffers.
absl::Status RunGemms(const std::vector<PlanGemm>& gemms) {
  static std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<float>*> bufs;
  for (const PlanGemm& g : gemms) {
    std::vector<float>*& b = bufs[{g.m, g.k, g.n}];
    if (b == nullptr) b = new std::vector<float>(g.m * g.k + g.k * g.n + g.m * g.n, 0.01f);
    float* a = b->data();
    for (int64_t c = 0; c < g.count; ++c) {
      GF_RETURN_IF_ERROR(onednn::MatMulF32(a, a + g.m * g.k, a + g.m * g.k + g.k * g.n, g.m, g.k,
                                           g.n, false, false));
    }
  }
  return absl::OkStatus();
}

double GemmFlops(const std::vector<PlanGemm>& gemms) {
  double f = 0;
  for (const PlanGemm& g : gemms) f += 2.0 * g.m * g.k * g.n * g.count;
  return f;
}

int Main() {
  std::printf("training (forward + backward), best of %d alternating runs\n", reps);
  if (only.empty() || only == "lstm" || only == "lstm-custom") {
    const int64_t T = 100, B = 64, I = 512, H = 512;
    Setup lstm = MakeSetup("lstm", T, B, I, H);
    absl::StatusOr<Graph> g = Compile(lstm.cell, /*recognize=*/false);
    if (!g.ok()) return 1;
    const double flops = 3.0 * 2.0 * T * B * (I + H) * 4 * H;
    if (only == "lstm-custom") {  // for profiling the custom path alone
      std::printf("lstm custom %7.1f ms\n",
                  BestSeconds({[&] { return TrainGraph(*g, lstm); }})[0] * 1e3);
      return 0;
    }
    absl::StatusOr<std::vector<PlanGemm>> gemms = CompiledSequenceGemms(*g, T, B, true);
    Check(gemms.status());
    const std::vector<double> t =
        BestSeconds({[&] { return TrainGraph(*g, lstm); },
                     [&] { return TrainOneDnnLstm(T, B, I, H); }, [&] { return RunGemms(*gemms); }});
    const double ours = t[0], ref = t[1], gt = t[2];
    std::printf("lstm custom  T=%lld B=%lld I=H=%lld: %8.1f ms %6.1f GFLOP/s\n", (long long)T,
                (long long)B, (long long)H, ours * 1e3, flops / ours * 1e-9);
    std::printf("lstm oneDNN primitive              : %8.1f ms %6.1f GFLOP/s\n", ref * 1e3,
                flops / ref * 1e-9);
    std::printf("  ratio custom / oneDNN LSTM GFLOP/s: %.2f\n", ref / ours);
    std::printf("  lstm plan GEMMs back to back: %8.1f ms %6.1f GFLOP/s; ratio %.2f\n", gt * 1e3,
                GemmFlops(*gemms) / gt * 1e-9, gt / ours);
  }
  if (only.empty() || only == "mgu") {
    const int64_t T = 100, B = 64, I = 512, H = 512;
    Setup mgu = MakeSetup("mgu", T, B, I, H);
    absl::StatusOr<Graph> m = Compile(mgu.cell, /*recognize=*/true);
    if (!m.ok()) return 1;
    absl::StatusOr<std::vector<PlanGemm>> mg = CompiledSequenceGemms(*m, T, B, true);
    if (!mg.ok()) return 1;
    const std::vector<double> mt =
        BestSeconds({[&] { return TrainGraph(*m, mgu); }, [&] { return RunGemms(*mg); }});
    const double mo = mt[0], mgt = mt[1];
    const double mf = GemmFlops(*mg);
    std::printf("mgu custom   T=%lld B=%lld I=H=%lld: %8.1f ms %6.1f GFLOP/s\n", (long long)T,
                (long long)B, (long long)H, mo * 1e3, mf / mo * 1e-9);
    std::printf("mgu plan GEMMs back to back        : %8.1f ms %6.1f GFLOP/s\n", mgt * 1e3,
                mf / mgt * 1e-9);
    std::printf("  ratio custom / GEMMs GFLOP/s: %.2f\n", mgt / mo);
  }
  if (only.empty() || only == "small" || only == "small-custom") {
    const int64_t T = 100, B = 16, I = 128, H = 128;
    for (const char* kind : {"lstm", "mgu"}) {
      Setup s = MakeSetup(kind, T, B, I, H);
      absl::StatusOr<Graph> g = Compile(s.cell, /*recognize=*/false);
      if (!g.ok()) return 1;
      if (only == "small-custom") {  // for profiling the custom path alone
        std::printf("%-4s custom %7.2f ms\n", kind,
                    BestSeconds({[&] { return TrainGraph(*g, s); }})[0] * 1e3);
        continue;
      }
      const std::vector<double> t =
          BestSeconds({[&] { return TrainGraph(*g, s); }, [&] { return TrainTape(s); }});
      const double ours = t[0], tape = t[1];
      std::printf("%-4s T=%lld B=%lld I=H=%lld: custom %7.2f ms, tape op by op %8.2f ms: %.1fx\n",
                  kind, (long long)T, (long long)B, (long long)H, ours * 1e3, tape * 1e3,
                  tape / ours);
    }
  }
  return 0;
}

}  // namespace
}  // namespace gatefuse

int main(int argc, char** argv) {
  if (argc > 1) gatefuse::reps = std::max(1, std::atoi(argv[1]));
  if (argc > 2) gatefuse::only = argv[2];
  return gatefuse::Main();
}
