// Two clean-ups of the code the group emitter writes (graph/compiled_sweeps.cc),
// run on a finished program; both keep its results exactly.
//
//   FoldZeros:        zero r; ...; acc r += a          ->  ...; copy r = a
//                     (acc_mul -> mul, acc_div -> div, neg_acc -> neg,
//                     acc_scale -> mul_scalar; a zero overwritten unread goes)
//   PropagateCopies:  copy r = a; acc_store <- r       ->  acc_store <- a
//                     (r used nowhere else, r and a not written again)
// Internal to the compiled sequence (graph/compiled_*.cc).
#ifndef GATEFUSE_GRAPH_COMPILED_PEEPHOLE_H_
#define GATEFUSE_GRAPH_COMPILED_PEEPHOLE_H_

#include <vector>

#include "graph/compiled_pointwise.h"

namespace gatefuse::compiled {

// Within one block of code.
void FoldZeros(std::vector<pointwise::Instr>& code);
// Over all the blocks of one program (a register may live across blocks).
void PropagateCopies(const std::vector<std::vector<pointwise::Instr>*>& blocks);

}  // namespace gatefuse::compiled

#endif  // GATEFUSE_GRAPH_COMPILED_PEEPHOLE_H_
