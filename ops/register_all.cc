#include "ops/register_all.h"

#include "ops/ops.h"
#include "ops/registry.h"

namespace gatefuse {

void RegisterAllOps(OpRegistry& r) {
  RegisterElementwiseOps(r);
  RegisterMatMulOps(r);
  RegisterShapeOps(r);
  RegisterReduceOps(r);
  RegisterNnOps(r);
  RegisterFusedCellOps(r);
  RegisterFusedSequenceOps(r);
  SetGradAdder([](const Var& a, const Var& b) { return Add(a, b); });
}

}  // namespace gatefuse

