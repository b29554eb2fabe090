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
// Every register is a plain float array, so each instruction is a fixed-length
// loop the compiler vectorises; sigmoid, tanh and exp use a branch-free exp.
#ifndef GATEFUSE_GRAPH_COMPILED_POINTWISE_H_
#define GATEFUSE_GRAPH_COMPILED_POINTWISE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gatefuse::pointwise {

inline constexpr int kChunk = 64;   // floats per register
inline constexpr int kMaxRegisters = 512;

enum class Op : uint8_t {
  // Forward: R[dst] = f(R[a], R[b], imm).
  kLoad,      // R[dst] = operand
  kStore,     // operand = R[a]
  kCopy,      // R[dst] = R[a]
  kAdd, kSub, kMul, kDiv, kNeg, kAddScalar, kMulScalar, kRSubScalar,
  kSigmoid, kTanh, kRelu, kStep, kExp, kLog,
  // Backward.
  kZero,       // R[dst] = 0
  kAccStore,   // operand += R[a]
  kAcc,        // R[dst] += R[a]
  kNegAcc,     // R[dst] -= R[a]
  kAccScale,   // R[dst] += imm * R[a]
  kAccMul,     // R[dst] += R[a] * R[b]
  kAccDiv,     // R[dst] += R[a] / R[b]
  kAccDivRhs,  // R[dst] -= R[a] * R[b] / R[c]        (y = p / q: dq = -g y / q)
  kAccSigmoid, // R[dst] += R[a] * R[b] * (1 - R[b])  (R[b] = sigmoid output)
  kAccTanh,    // R[dst] += R[a] * (1 - R[b]^2)       (R[b] = tanh output)
  kAccStep,    // R[dst] += R[a] * [R[b] > 0]         (relu: R[b] = its input)
};

const char* OpName(Op op);

struct Instr {
  Op op;
  int dst = -1, a = -1, b = -1, c = -1;
  float imm = 0;
  int operand = -1;  // kLoad, kStore, kAccStore
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

// While alive, OpenMP regions started by this thread (oneDNN's included) use one
// thread: a step's small GEMM costs less than waking a second thread, above all
// when other processes hold the other core.
class SingleThreaded {
 public:
  SingleThreaded();
  ~SingleThreaded();
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int previous_;
};

// Branch-free exp with a relative error below 2e-7 over [-87, 88] (exposed for tests).
float FastExp(float x);

}  // namespace gatefuse::pointwise

#endif  // GATEFUSE_GRAPH_COMPILED_POINTWISE_H_
