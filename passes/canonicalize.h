// Canonicalize: algebraic rewrites that give one spelling to equal expressions,
// applied until nothing changes.
//
//   a + b, a - b          ->  AddN(a, b), AddN(a, Neg(b))
//   AddN(AddN(a, b), c)   ->  AddN(a, b, c)          (inner sum used once)
//   1 - sigmoid(a)        ->  sigmoid(-a)            (likewise -sigmoid(a) + 1)
//   -(-a)                 ->  a
//   x * 1, x + 0          ->  x                      (scalar forms and constants)
//   x * -1                ->  -x
//   (x * a) * b           ->  x * (a b)              (inner product used once)
//   (a * s) @ W, (-a) @ W ->  (a @ W) * s, -(a @ W)  (the scaled operand used once)
//   AddN(c, y), Mul(c, y) ->  AddScalar(y, c), MulScalar(y, c)  (c a uniform constant)
//   -x + s                ->  s - x
// and the operands of commutative ops (AddN, Mul) sorted by a structural hash, so
// that a + b and b + a, or i*g and g*i, become the same node.
#ifndef GATEFUSE_PASSES_CANONICALIZE_H_
#define GATEFUSE_PASSES_CANONICALIZE_H_

#include "passes/pass.h"

namespace gatefuse {

class Canonicalize : public Pass {
 public:
  std::string name() const override { return "canonicalize"; }
  absl::StatusOr<bool> Run(Graph& g) override;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_CANONICALIZE_H_
