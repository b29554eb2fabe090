#include "graph/compiled_pointwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <omp.h>

#include "absl/strings/str_cat.h"

namespace gatefuse::pointwise {

namespace {

void AppendCode(const std::vector<Instr>& code, const char* indent, std::string& s) {
  for (const Instr& i : code) {
    absl::StrAppend(&s, indent, OpName(i.op), " d=", i.dst, " a=", i.a, " b=", i.b,
                    " c=", i.c, " imm=", i.imm, " operand=", i.operand);
    if (NumScalars(i.op) == 2) absl::StrAppend(&s, " imm2=", i.imm2);
    absl::StrAppend(&s, "\n");
  }
}

}  // namespace

int64_t Program::NumInstructions() const {
  int64_t n = static_cast<int64_t>(code.size());
  for (const Sweep& w : sweeps) n += static_cast<int64_t>(w.row.size() + w.chunk.size());
  return n;
}

std::string Program::ToString() const {
  std::string s;
  AppendCode(code, "", s);
  for (size_t k = 0; k < sweeps.size(); ++k) {
    absl::StrAppend(&s, "sweep ", k, " row:\n");
    AppendCode(sweeps[k].row, "  ", s);
    absl::StrAppend(&s, "sweep ", k, " chunks:\n");
    AppendCode(sweeps[k].chunk, "  ", s);
  }
  return s;
}

namespace {

// exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln 2 / 2; exp(r) by the Cephes
// expf polynomial. Written without branches so loops over it vectorise.
inline float ExpKernel(float x) {
  x = x < -87.3365447505531f ? -87.3365447505531f : x;
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  // Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  int32_t n_bits;
  std::memcpy(&n_bits, &shifted, sizeof(n_bits));
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (n_bits - 0x4B400000 + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float SigmoidKernel(float x) { return 1.0f / (1.0f + ExpKernel(-x)); }

inline float TanhKernel(float x) {
  const float e = ExpKernel(-2.0f * std::fabs(x));
  const float t = (1.0f - e) / (1.0f + e);
  return x < 0 ? -t : t;
}

// max(x, 0) + log(1 + exp(-|x|)): no overflow for any x (see ops/elementwise.cc).
inline float SoftplusKernel(float x) {
  return (x > 0 ? x : 0.0f) + std::log1p(ExpKernel(-std::fabs(x)));
}

using Reg = float*;

template <int L>
void Load(Reg d, const Operand& o, int64_t thread, int64_t row, int64_t col, int len) {
  const float* src = o.ptr + thread * o.thread_stride + row * o.row_stride;
  if (o.col_stride == 0) {
    const float v = *src;
    for (int i = 0; i < L; ++i) d[i] = v;
    return;
  }
  src += col;
  if (len == L) {
    for (int i = 0; i < L; ++i) d[i] = src[i];
  } else {
    for (int i = 0; i < len; ++i) d[i] = src[i];
    for (int i = len; i < L; ++i) d[i] = 0;
  }
}

// A thread's registers and row scratch (`padded` floats per slot), and its index.
struct Frame {
  float* regs;
  float* scratch;
  int64_t padded;
  int64_t thread;
};

// Runs `code` on one chunk [col, col + len) of one row (a row block: col 0, len 1),
// on registers of L floats.
template <int L>
void RunChunk(const std::vector<Instr>& code, const Operand* ops, const Frame& f, int64_t row,
              int64_t col, int len) {
  float* regs = f.regs;
  auto R = [&](int k) { return regs + static_cast<int64_t>(k) * L; };
  auto S = [&](int slot) { return f.scratch + slot * f.padded + col; };
  for (const Instr& in : code) {
    float* __restrict d = in.dst >= 0 ? R(in.dst) : nullptr;
    const float* a = in.a >= 0 ? R(in.a) : nullptr;
    const float* b = in.b >= 0 ? R(in.b) : nullptr;
    const float* c = in.c >= 0 ? R(in.c) : nullptr;
    const float s = in.imm, t = in.imm2;
    switch (in.op) {
      case Op::kLoad:
        Load<L>(d, ops[in.operand], f.thread, row, col, len);
        break;
      case Op::kStore: {
        const Operand& o = ops[in.operand];
        float* dst = o.ptr + f.thread * o.thread_stride + row * o.row_stride + col * o.col_stride;
        if (o.col_stride == 0) {
          *dst = a[0];
        } else {
          for (int i = 0; i < len; ++i) dst[i] = a[i];
        }
        break;
      }
      case Op::kAccStore: {
        const Operand& o = ops[in.operand];
        float* dst = o.ptr + f.thread * o.thread_stride + row * o.row_stride + col * o.col_stride;
        if (o.col_stride == 0) {
          *dst += a[0];
        } else {
          for (int i = 0; i < len; ++i) dst[i] += a[i];
        }
        break;
      }
      case Op::kRowAcc:
        if (len == L) {
          for (int i = 0; i < L; ++i) d[i] += a[i];
        } else {
          for (int i = 0; i < len; ++i) d[i] += a[i];
        }
        break;
      case Op::kRowSum: {
        float sum = 0;
        for (int i = 0; i < L; ++i) sum += a[i];
        sum *= s;
        for (int i = 0; i < L; ++i) d[i] = sum;
        break;
      }
      case Op::kSpill: {
        float* dst = S(in.operand);
        for (int i = 0; i < L; ++i) dst[i] = a[i];
        break;
      }
      case Op::kSpillAcc: {
        float* dst = S(in.operand);
        for (int i = 0; i < L; ++i) dst[i] += a[i];
        break;
      }
      case Op::kReload: {
        const float* src = S(in.operand);
        for (int i = 0; i < L; ++i) d[i] = src[i];
        break;
      }
      case Op::kCopy: for (int i = 0; i < L; ++i) d[i] = a[i]; break;
      case Op::kAdd: for (int i = 0; i < L; ++i) d[i] = a[i] + b[i]; break;
      case Op::kSub: for (int i = 0; i < L; ++i) d[i] = a[i] - b[i]; break;
      case Op::kMul: for (int i = 0; i < L; ++i) d[i] = a[i] * b[i]; break;
      case Op::kDiv: for (int i = 0; i < L; ++i) d[i] = a[i] / b[i]; break;
      case Op::kNeg: for (int i = 0; i < L; ++i) d[i] = -a[i]; break;
      case Op::kAddScalar: for (int i = 0; i < L; ++i) d[i] = a[i] + s; break;
      case Op::kMulScalar: for (int i = 0; i < L; ++i) d[i] = a[i] * s; break;
      case Op::kRSubScalar: for (int i = 0; i < L; ++i) d[i] = s - a[i]; break;
      case Op::kSigmoid: for (int i = 0; i < L; ++i) d[i] = SigmoidKernel(a[i]); break;
      case Op::kTanh: for (int i = 0; i < L; ++i) d[i] = TanhKernel(a[i]); break;
      case Op::kRelu: for (int i = 0; i < L; ++i) d[i] = a[i] > 0 ? a[i] : 0.0f; break;
      case Op::kStep: for (int i = 0; i < L; ++i) d[i] = a[i] > 0 ? 1.0f : 0.0f; break;
      case Op::kExp: for (int i = 0; i < L; ++i) d[i] = ExpKernel(a[i]); break;
      case Op::kLog: for (int i = 0; i < L; ++i) d[i] = std::log(a[i]); break;
      case Op::kLeakyRelu:
        for (int i = 0; i < L; ++i) d[i] = a[i] >= 0 ? a[i] : s * a[i];
        break;
      case Op::kThresholdedRelu:
        for (int i = 0; i < L; ++i) d[i] = a[i] > s ? a[i] : 0.0f;
        break;
      case Op::kElu:
        for (int i = 0; i < L; ++i) d[i] = a[i] >= 0 ? a[i] : s * (ExpKernel(a[i]) - 1.0f);
        break;
      case Op::kSoftsign:
        for (int i = 0; i < L; ++i) d[i] = a[i] / (1.0f + std::fabs(a[i]));
        break;
      case Op::kSoftplus: for (int i = 0; i < L; ++i) d[i] = SoftplusKernel(a[i]); break;
      case Op::kHardSigmoid:
        for (int i = 0; i < L; ++i) d[i] = std::max(0.0f, std::min(1.0f, s * a[i] + t));
        break;
      case Op::kClip:
        for (int i = 0; i < L; ++i) d[i] = std::min(std::max(a[i], s), t);
        break;
      case Op::kAbs: for (int i = 0; i < L; ++i) d[i] = std::fabs(a[i]); break;
      case Op::kSqrt: for (int i = 0; i < L; ++i) d[i] = std::sqrt(a[i]); break;
      case Op::kMin: for (int i = 0; i < L; ++i) d[i] = b[i] < a[i] ? b[i] : a[i]; break;
      case Op::kMax: for (int i = 0; i < L; ++i) d[i] = b[i] > a[i] ? b[i] : a[i]; break;
      case Op::kZero: for (int i = 0; i < L; ++i) d[i] = 0; break;
      case Op::kAcc: for (int i = 0; i < L; ++i) d[i] += a[i]; break;
      case Op::kNegAcc: for (int i = 0; i < L; ++i) d[i] -= a[i]; break;
      case Op::kAccScale: for (int i = 0; i < L; ++i) d[i] += s * a[i]; break;
      case Op::kAccMul: for (int i = 0; i < L; ++i) d[i] += a[i] * b[i]; break;
      case Op::kAccDiv: for (int i = 0; i < L; ++i) d[i] += a[i] / b[i]; break;
      case Op::kAccDivRhs:
        for (int i = 0; i < L; ++i) d[i] -= a[i] * b[i] / c[i];
        break;
      case Op::kAccSigmoid:
        for (int i = 0; i < L; ++i) d[i] += a[i] * b[i] * (1.0f - b[i]);
        break;
      case Op::kAccTanh:
        for (int i = 0; i < L; ++i) d[i] += a[i] * (1.0f - b[i] * b[i]);
        break;
      case Op::kAccStep:
        for (int i = 0; i < L; ++i) d[i] += b[i] > 0 ? a[i] : 0.0f;
        break;
      case Op::kAccStepAbove:
        for (int i = 0; i < L; ++i) d[i] += b[i] > s ? a[i] : 0.0f;
        break;
      case Op::kAccLeakyRelu:
        for (int i = 0; i < L; ++i) d[i] += b[i] > 0 ? a[i] : s * a[i];
        break;
      case Op::kAccElu:
        for (int i = 0; i < L; ++i) d[i] += b[i] > 0 ? a[i] : a[i] * ExpKernel(b[i]) * s;
        break;
      case Op::kAccSoftsign:
        for (int i = 0; i < L; ++i) {
          const float q = 1.0f + std::fabs(b[i]);
          d[i] += a[i] / (q * q);
        }
        break;
      case Op::kAccSoftplus:
        for (int i = 0; i < L; ++i) d[i] += a[i] * SigmoidKernel(b[i]);
        break;
      case Op::kAccHardSigmoid:
        for (int i = 0; i < L; ++i) d[i] += b[i] > 0 && b[i] < 1 ? s * a[i] : 0.0f;
        break;
      case Op::kAccClip:
        for (int i = 0; i < L; ++i) d[i] += b[i] > s && b[i] < t ? a[i] : 0.0f;
        break;
      case Op::kAccSign:
        for (int i = 0; i < L; ++i) d[i] += b[i] > 0 ? a[i] : b[i] < 0 ? -a[i] : 0.0f;
        break;
      case Op::kAccSqrt:
        for (int i = 0; i < L; ++i) d[i] += 0.5f * (a[i] / b[i]);
        break;
      case Op::kAccGe:
        for (int i = 0; i < L; ++i) d[i] += b[i] >= c[i] ? a[i] : 0.0f;
        break;
      case Op::kAccGt:
        for (int i = 0; i < L; ++i) d[i] += b[i] > c[i] ? a[i] : 0.0f;
        break;
    }
  }
}

}  // namespace

float FastExp(float x) { return ExpKernel(x); }

namespace {

template <int L>
void RunRows(const Program& p, int64_t rows, const Operand* operands) {
  const int64_t work = rows * p.width * std::max<int64_t>(1, p.sweeps.size());
  const size_t regs_needed = static_cast<size_t>(std::max(p.num_registers, 1)) * L;
  const int64_t padded = (p.width + L - 1) / L * L;
  const size_t scratch_needed = static_cast<size_t>(p.scratch_slots * padded);
  // The GEMMs before and after a step's pass run on every core, so the other
  // threads are still spinning when it starts: splitting its rows costs a few
  // microseconds and halves a pass of B x H = 64 x 512 (~0.2 ms on one core).
#pragma omp parallel for schedule(static) if (work >= (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    // One register file and row scratch per thread, grown once; no allocation in
    // the steady state.
    thread_local std::vector<float> regs, scratch;
    if (regs.size() < regs_needed) regs.resize(regs_needed);
    if (scratch.size() < scratch_needed) scratch.resize(scratch_needed);
    const Frame f{regs.data(), scratch.data(), padded, omp_get_thread_num()};
    auto chunks = [&](const std::vector<Instr>& code) {
      for (int64_t col = 0; col < p.width; col += L) {
        const int len = static_cast<int>(std::min<int64_t>(L, p.width - col));
        RunChunk<L>(code, operands, f, r, col, len);
      }
    };
    if (p.sweeps.empty()) {
      chunks(p.code);
      continue;
    }
    for (const Sweep& w : p.sweeps) {
      RunChunk<L>(w.row, operands, f, r, 0, 1);
      if (!w.chunk.empty()) chunks(w.chunk);
    }
  }
}

}  // namespace

int RegisterFloats(int64_t width) {
  // Each instruction costs a dispatch (about the time of 8 vector operations)
  // plus L / 8 vector operations per register: the length with the least cost
  // per row, the shorter at a tie.
  int best = kChunk;
  int64_t best_cost = -1;
  for (int lanes : {kChunk, 2 * kChunk, 4 * kChunk}) {
    const int64_t cost = (std::max<int64_t>(width, 1) + lanes - 1) / lanes * (8 + lanes / 8);
    if (best_cost < 0 || cost < best_cost) {
      best = lanes;
      best_cost = cost;
    }
  }
  return best;
}

int Threads() { return std::max(1, omp_get_max_threads()); }

void Run(const Program& p, int64_t rows, const Operand* operands) {
  switch (RegisterFloats(p.width)) {
    case kChunk: return RunRows<kChunk>(p, rows, operands);
    case 2 * kChunk: return RunRows<2 * kChunk>(p, rows, operands);
    default: return RunRows<4 * kChunk>(p, rows, operands);
  }
}

}  // namespace gatefuse::pointwise
