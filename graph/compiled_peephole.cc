#include "graph/compiled_peephole.h"

#include <cstddef>
#include <optional>

namespace gatefuse::compiled {
namespace {

using pointwise::Instr;
using pointwise::Op;

// The forward instruction that writes what accumulating into a zero would.
std::optional<Op> FirstTerm(Op acc) {
  switch (acc) {
    case Op::kAcc: return Op::kCopy;
    case Op::kAccMul: return Op::kMul;
    case Op::kAccDiv: return Op::kDiv;
    case Op::kNegAcc: return Op::kNeg;
    case Op::kAccScale: return Op::kMulScalar;
    default: return std::nullopt;
  }
}

bool Reads(const Instr& i, int r) {
  const int n = pointwise::NumArgs(i.op);
  const bool accumulates = pointwise::IsAccumulate(i.op) || i.op == Op::kRowAcc;
  return (n > 0 && i.a == r) || (n > 1 && i.b == r) || (n > 2 && i.c == r) ||
         (accumulates && i.dst == r);
}

}  // namespace

void FoldZeros(std::vector<Instr>& code) {
  std::vector<bool> dead(code.size(), false);
  for (size_t z = 0; z < code.size(); ++z) {
    if (code[z].op != Op::kZero) continue;
    const int r = code[z].dst;
    for (size_t k = z + 1; k < code.size(); ++k) {
      Instr& i = code[k];
      const int n = pointwise::NumArgs(i.op);
      if ((n > 0 && i.a == r) || (n > 1 && i.b == r) || (n > 2 && i.c == r)) break;
      if (i.dst != r) continue;
      // The first write of r: an accumulation of one of FirstTerm's kinds becomes
      // its forward form; any other accumulation keeps the zero; an overwrite
      // makes it dead.
      if (const std::optional<Op> first = FirstTerm(i.op)) {
        i.op = *first;
        dead[z] = true;
      } else {
        dead[z] = !pointwise::IsAccumulate(i.op) && i.op != Op::kRowAcc;
      }
      break;
    }
  }
  std::vector<Instr> kept;
  for (size_t k = 0; k < code.size(); ++k) {
    if (!dead[k]) kept.push_back(code[k]);
  }
  code = std::move(kept);
}

void PropagateCopies(const std::vector<std::vector<Instr>*>& blocks) {
  for (std::vector<Instr>* block : blocks) {
    std::vector<Instr>& code = *block;
    for (size_t k = 0; k < code.size(); ++k) {
      if (code[k].op != Op::kCopy) continue;
      const int r = code[k].dst, a = code[k].a;
      // r is used only after the copy, in its block, and only read; a is not
      // written after it.
      bool ok = true;
      for (const std::vector<Instr>* other : blocks) {
        for (size_t j = 0; j < other->size() && ok; ++j) {
          if (other == block && j == k) continue;
          const Instr& i = (*other)[j];
          const bool after = other == block && j > k;
          if ((i.dst == r || Reads(i, r)) && (!after || i.dst == r)) ok = false;
          if (after && i.dst == a) ok = false;
        }
      }
      if (!ok) continue;
      for (size_t j = k + 1; j < code.size(); ++j) {
        Instr& i = code[j];
        const int n = pointwise::NumArgs(i.op);
        if (n > 0 && i.a == r) i.a = a;
        if (n > 1 && i.b == r) i.b = a;
        if (n > 2 && i.c == r) i.c = a;
      }
      code.erase(code.begin() + static_cast<std::ptrdiff_t>(k));
      --k;
    }
  }
}

}  // namespace gatefuse::compiled
