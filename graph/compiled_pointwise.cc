#include "graph/compiled_pointwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <omp.h>

#include "absl/strings/str_cat.h"

namespace gatefuse::pointwise {

std::string Program::ToString() const {
  std::string s;
  for (const Instr& i : code) {
    absl::StrAppend(&s, OpName(i.op), " d=", i.dst, " a=", i.a, " b=", i.b, " c=", i.c,
                    " imm=", i.imm, " operand=", i.operand);
    if (NumScalars(i.op) == 2) absl::StrAppend(&s, " imm2=", i.imm2);
    absl::StrAppend(&s, "\n");
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

void Load(Reg d, const Operand& o, int64_t row, int64_t col, int len) {
  const float* src = o.ptr + row * o.row_stride;
  if (o.col_stride == 0) {
    const float v = *src;
    for (int i = 0; i < kChunk; ++i) d[i] = v;
    return;
  }
  src += col;
  if (len == kChunk) {
    for (int i = 0; i < kChunk; ++i) d[i] = src[i];
  } else {
    for (int i = 0; i < len; ++i) d[i] = src[i];
    for (int i = len; i < kChunk; ++i) d[i] = 0;
  }
}

// Runs the program on one chunk [col, col + len) of one row.
void RunChunk(const Program& p, const Operand* ops, float* regs, int64_t row, int64_t col,
              int len) {
  auto R = [&](int k) { return regs + static_cast<int64_t>(k) * kChunk; };
  for (const Instr& in : p.code) {
    float* __restrict d = in.dst >= 0 ? R(in.dst) : nullptr;
    const float* a = in.a >= 0 ? R(in.a) : nullptr;
    const float* b = in.b >= 0 ? R(in.b) : nullptr;
    const float* c = in.c >= 0 ? R(in.c) : nullptr;
    const float s = in.imm, t = in.imm2;
    switch (in.op) {
      case Op::kLoad:
        Load(d, ops[in.operand], row, col, len);
        break;
      case Op::kStore: {
        float* dst = ops[in.operand].ptr + row * ops[in.operand].row_stride + col;
        for (int i = 0; i < len; ++i) dst[i] = a[i];
        break;
      }
      case Op::kAccStore: {
        float* dst = ops[in.operand].ptr + row * ops[in.operand].row_stride + col;
        for (int i = 0; i < len; ++i) dst[i] += a[i];
        break;
      }
      case Op::kCopy: for (int i = 0; i < kChunk; ++i) d[i] = a[i]; break;
      case Op::kAdd: for (int i = 0; i < kChunk; ++i) d[i] = a[i] + b[i]; break;
      case Op::kSub: for (int i = 0; i < kChunk; ++i) d[i] = a[i] - b[i]; break;
      case Op::kMul: for (int i = 0; i < kChunk; ++i) d[i] = a[i] * b[i]; break;
      case Op::kDiv: for (int i = 0; i < kChunk; ++i) d[i] = a[i] / b[i]; break;
      case Op::kNeg: for (int i = 0; i < kChunk; ++i) d[i] = -a[i]; break;
      case Op::kAddScalar: for (int i = 0; i < kChunk; ++i) d[i] = a[i] + s; break;
      case Op::kMulScalar: for (int i = 0; i < kChunk; ++i) d[i] = a[i] * s; break;
      case Op::kRSubScalar: for (int i = 0; i < kChunk; ++i) d[i] = s - a[i]; break;
      case Op::kSigmoid: for (int i = 0; i < kChunk; ++i) d[i] = SigmoidKernel(a[i]); break;
      case Op::kTanh: for (int i = 0; i < kChunk; ++i) d[i] = TanhKernel(a[i]); break;
      case Op::kRelu: for (int i = 0; i < kChunk; ++i) d[i] = a[i] > 0 ? a[i] : 0.0f; break;
      case Op::kStep: for (int i = 0; i < kChunk; ++i) d[i] = a[i] > 0 ? 1.0f : 0.0f; break;
      case Op::kExp: for (int i = 0; i < kChunk; ++i) d[i] = ExpKernel(a[i]); break;
      case Op::kLog: for (int i = 0; i < kChunk; ++i) d[i] = std::log(a[i]); break;
      case Op::kLeakyRelu:
        for (int i = 0; i < kChunk; ++i) d[i] = a[i] >= 0 ? a[i] : s * a[i];
        break;
      case Op::kThresholdedRelu:
        for (int i = 0; i < kChunk; ++i) d[i] = a[i] > s ? a[i] : 0.0f;
        break;
      case Op::kElu:
        for (int i = 0; i < kChunk; ++i) d[i] = a[i] >= 0 ? a[i] : s * (ExpKernel(a[i]) - 1.0f);
        break;
      case Op::kSoftsign:
        for (int i = 0; i < kChunk; ++i) d[i] = a[i] / (1.0f + std::fabs(a[i]));
        break;
      case Op::kSoftplus: for (int i = 0; i < kChunk; ++i) d[i] = SoftplusKernel(a[i]); break;
      case Op::kHardSigmoid:
        for (int i = 0; i < kChunk; ++i) d[i] = std::max(0.0f, std::min(1.0f, s * a[i] + t));
        break;
      case Op::kClip:
        for (int i = 0; i < kChunk; ++i) d[i] = std::min(std::max(a[i], s), t);
        break;
      case Op::kAbs: for (int i = 0; i < kChunk; ++i) d[i] = std::fabs(a[i]); break;
      case Op::kSqrt: for (int i = 0; i < kChunk; ++i) d[i] = std::sqrt(a[i]); break;
      case Op::kZero: for (int i = 0; i < kChunk; ++i) d[i] = 0; break;
      case Op::kAcc: for (int i = 0; i < kChunk; ++i) d[i] += a[i]; break;
      case Op::kNegAcc: for (int i = 0; i < kChunk; ++i) d[i] -= a[i]; break;
      case Op::kAccScale: for (int i = 0; i < kChunk; ++i) d[i] += s * a[i]; break;
      case Op::kAccMul: for (int i = 0; i < kChunk; ++i) d[i] += a[i] * b[i]; break;
      case Op::kAccDiv: for (int i = 0; i < kChunk; ++i) d[i] += a[i] / b[i]; break;
      case Op::kAccDivRhs:
        for (int i = 0; i < kChunk; ++i) d[i] -= a[i] * b[i] / c[i];
        break;
      case Op::kAccSigmoid:
        for (int i = 0; i < kChunk; ++i) d[i] += a[i] * b[i] * (1.0f - b[i]);
        break;
      case Op::kAccTanh:
        for (int i = 0; i < kChunk; ++i) d[i] += a[i] * (1.0f - b[i] * b[i]);
        break;
      case Op::kAccStep:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > 0 ? a[i] : 0.0f;
        break;
      case Op::kAccStepAbove:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > s ? a[i] : 0.0f;
        break;
      case Op::kAccLeakyRelu:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > 0 ? a[i] : s * a[i];
        break;
      case Op::kAccElu:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > 0 ? a[i] : a[i] * ExpKernel(b[i]) * s;
        break;
      case Op::kAccSoftsign:
        for (int i = 0; i < kChunk; ++i) {
          const float q = 1.0f + std::fabs(b[i]);
          d[i] += a[i] / (q * q);
        }
        break;
      case Op::kAccSoftplus:
        for (int i = 0; i < kChunk; ++i) d[i] += a[i] * SigmoidKernel(b[i]);
        break;
      case Op::kAccHardSigmoid:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > 0 && b[i] < 1 ? s * a[i] : 0.0f;
        break;
      case Op::kAccClip:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > s && b[i] < t ? a[i] : 0.0f;
        break;
      case Op::kAccSign:
        for (int i = 0; i < kChunk; ++i) d[i] += b[i] > 0 ? a[i] : b[i] < 0 ? -a[i] : 0.0f;
        break;
      case Op::kAccSqrt:
        for (int i = 0; i < kChunk; ++i) d[i] += 0.5f * (a[i] / b[i]);
        break;
    }
  }
}

}  // namespace

float FastExp(float x) { return ExpKernel(x); }

void Run(const Program& p, int64_t rows, const Operand* operands) {
  const int64_t work = rows * p.width;
  const size_t regs_needed = static_cast<size_t>(std::max(p.num_registers, 1)) * kChunk;
  // A step's pass (B x H of an LSTM at B=64, H=512: ~0.1 ms) is cheaper than waking
  // the GEMMs' second thread when other processes hold the core: only very large
  // groups are split.
#pragma omp parallel for schedule(static) if (work >= (1 << 20))
  for (int64_t r = 0; r < rows; ++r) {
    // One register file per thread, grown once; no allocation in the steady state.
    thread_local std::vector<float> regs;
    if (regs.size() < regs_needed) regs.resize(regs_needed);
    for (int64_t col = 0; col < p.width; col += kChunk) {
      const int len = static_cast<int>(std::min<int64_t>(kChunk, p.width - col));
      RunChunk(p, operands, regs.data(), r, col, len);
    }
  }
}

}  // namespace gatefuse::pointwise
