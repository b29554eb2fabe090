// Defines every op of ops/ in a registry; OpRegistry::Global() calls it once.
#ifndef GATEFUSE_OPS_REGISTER_ALL_H_
#define GATEFUSE_OPS_REGISTER_ALL_H_

namespace gatefuse {

class OpRegistry;

void RegisterAllOps(OpRegistry& r);
void RegisterElementwiseOps(OpRegistry& r);
void RegisterMatMulOps(OpRegistry& r);
void RegisterShapeOps(OpRegistry& r);
void RegisterReduceOps(OpRegistry& r);
void RegisterNnOps(OpRegistry& r);
void RegisterFusedCellOps(OpRegistry& r);
void RegisterFusedSequenceOps(OpRegistry& r);

}  // namespace gatefuse

#endif  // GATEFUSE_OPS_REGISTER_ALL_H_
