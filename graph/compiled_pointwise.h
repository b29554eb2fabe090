// A small vectorisable interpreter for the fused pointwise math of one step of a
// compiled cell (graph/compiled_sequence.h): a bytecode over registers that each
// hold a chunk of one row (64 to 256 floats), so a whole group of elementwise ops
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

// A register holds kChunk, 2 kChunk or 4 kChunk floats, by the program's width
// (RegisterFloats): longer registers cost fewer instruction dispatches per row,
// shorter ones waste fewer lanes on a narrow row.
inline constexpr int kChunk = 64;
inline constexpr int kMaxRegisters = 512;
int RegisterFloats(int64_t width);

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
// ptr[r * row_stride + j * col_stride], plus thread_stride times the index of the
// OpenMP thread running row r; row_stride 0 broadcasts a [n] vector over the
// rows, col_stride 0 a single value over the columns (a [rows, 1] value: a load
// fills every lane with it, a store or acc_store writes lane 0 of the register).
// thread_stride with row_stride 0 is a per-thread row, as the sum of a broadcast
// value's adjoints over the rows a thread runs.
struct Operand {
  float* ptr = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
  int64_t thread_stride = 0;
};

// A program with feature-axis reductions (graph/compiled_codegen.h) sweeps each row
// several times, since a row sum is known only after a whole pass over the row:
//   for each row: for each sweep: `row` once (on registers whose lanes all hold one
//   per-row value: the sums, and what is computed from them), then `chunk` on every
//   chunk of the row.
// Registers keep their values from block to block of a row, so a sum accumulated
// in one sweep's chunks (kRowAcc) is finished in the next sweep's row block
// (kRowSum) and read by its chunks. A value one sweep computes and a later one
// reads goes through the thread's row scratch (kSpill, kReload: `scratch_slots`
// rows of the program's width, a few KB that stay in L1 while the row is swept).
struct Sweep {
  std::vector<Instr> row, chunk;
};

struct Program {
  int64_t width = 0;  // columns of every row-valued operand
  int num_registers = 0;
  std::vector<Instr> code;    // the program of one sweep with no row block (`sweeps` empty)
  std::vector<Sweep> sweeps;  // else: the sweeps, in order (`code` empty)
  int scratch_slots = 0;
  int64_t NumInstructions() const;
  std::string ToString() const;
};

// Runs `p` on rows [0, rows) (split over threads); operands[k] is operand k.
// Threads() bounds the thread indices a Run called now uses (Operand::thread_stride).
int Threads();
void Run(const Program& p, int64_t rows, const Operand* operands);

// Branch-free exp with a relative error below 2e-7 over [-87, 88] (exposed for tests).
float FastExp(float x);

}  // namespace gatefuse::pointwise

#endif  // GATEFUSE_GRAPH_COMPILED_POINTWISE_H_
