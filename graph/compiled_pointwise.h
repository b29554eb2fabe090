// A small vectorisable interpreter for the fused pointwise math of one step of a
// compiled cell (graph/compiled_sequence.h): a bytecode over registers that each
// hold a chunk of kChunk floats of one row, so a whole group of elementwise ops
// makes one pass over memory and no intermediate tensor exists.
//
//   f = sigmoid(z + b); y = f * h          (z, h: [rows, n] regions; b: [n])
//     =>  r0 = load z; r1 = load b; r2 = r0 + r1; r2 = sigmoid(r2);
//         r3 = load h; r4 = r2 * r3; store y <- r4
//
// Backward instructions accumulate into adjoint registers (a = "A[dst] += ...").
// The instruction set, and each elementwise op's lowering to it, are ops/'s
// (ops/pointwise_lowering.h); this is their fast f32 meaning.
// Every register is a plain float array, so each instruction is a fixed-length
// loop the compiler vectorises; sigmoid, tanh, exp, elu and softplus use a
// branch-free exp.
#ifndef GATEFUSE_GRAPH_COMPILED_POINTWISE_H_
#define GATEFUSE_GRAPH_COMPILED_POINTWISE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ops/pointwise_lowering.h"  // the instruction set (Op)

namespace gatefuse::pointwise {

inline constexpr int kChunk = 64;   // floats per register
inline constexpr int kMaxRegisters = 512;

struct Instr {
  Op op;
  int dst = -1, a = -1, b = -1, c = -1;
  float imm = 0;     // s
  int operand = -1;  // kLoad, kStore, kAccStore
  // t, of the two-scalar instructions (kHardSigmoid, kClip, kAccClip); last, so
  // that the positional initialisers {op, dst, a, b, c, s, operand} keep their
  // meaning.
  float imm2 = 0;
};

// Where an operand lives for one call: element (r, j) is at
// ptr[r * row_stride + j * col_stride]; row_stride 0 broadcasts a [n] vector over
// the rows, col_stride 0 a single value over the columns.
struct Operand {
  float* ptr = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
};

struct Program {
  int64_t width = 0;  // columns of every row-valued operand
  int num_registers = 0;
  std::vector<Instr> code;
  std::string ToString() const;
};

// Runs `p` on rows [0, rows) (split over threads); operands[k] is operand k.
void Run(const Program& p, int64_t rows, const Operand* operands);

// Branch-free exp with a relative error below 2e-7 over [-87, 88] (exposed for tests).
float FastExp(float x);

}  // namespace gatefuse::pointwise

#endif  // GATEFUSE_GRAPH_COMPILED_POINTWISE_H_
