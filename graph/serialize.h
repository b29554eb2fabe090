// Graph <-> GraphProto (graph/graph.proto), and Tensor <-> TensorProto.
//
//   GF_ASSIGN_OR_RETURN(GraphProto p, ToProto(g));   // live nodes, renumbered 0..n-1
//   std::string bytes = p.SerializeAsString();
//   ...
//   GF_ASSIGN_OR_RETURN(Graph back, FromProto(p));   // PrintGraph(back) == PrintGraph(g)
//
// A proto comes from a file, so FromProto trusts nothing in it: every node and
// output index, every enum value, every shape (non-negative, rank and element
// count bounded so no shape arithmetic can overflow), every constant's byte
// count is checked before use, then the verifier runs. A bad proto is
// InvalidArgument naming the node ("GraphProto lstm: node 3 (MatMul): ..."),
// never a crash.
#ifndef GATEFUSE_GRAPH_SERIALIZE_H_
#define GATEFUSE_GRAPH_SERIALIZE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "graph/graph.pb.h"

namespace gatefuse {

// Limits on every shape read from a proto. Products of dimensions (with zeros
// counted as 1) stay below kMaxProtoElements, so no shape function can overflow.
inline constexpr int kMaxProtoRank = 32;
inline constexpr int64_t kMaxProtoDim = (int64_t{1} << 31) - 1;
inline constexpr int64_t kMaxProtoElements = int64_t{1} << 40;

DTypeProto DTypeToProto(DType dtype);
// InvalidArgument for DTYPE_UNSPECIFIED and values this binary does not know.
absl::StatusOr<DType> DTypeFromProto(int dtype);

// Checks dims against the limits above; `what` names the tensor in the error.
absl::StatusOr<Shape> ShapeFromProto(const google::protobuf::RepeatedField<int64_t>& dims,
                                     absl::string_view what);

// The dtype and shape a TensorProto declares, checked like TensorFromProto
// (byte count included) without copying its data.
absl::StatusOr<TensorSpec> TensorProtoSpec(const TensorProto& p, absl::string_view what = "");

// The tensor's elements as little-endian bytes. InvalidArgument if undefined.
absl::StatusOr<TensorProto> TensorToProto(const Tensor& t, const std::string& name = "");
// InvalidArgument (naming `what` or the tensor's name) if the dtype is unknown,
// the shape is out of limits, or data.size() != elements * dtype size.
absl::StatusOr<Tensor> TensorFromProto(const TensorProto& p, absl::string_view what = "");

// The live nodes in id order (so the stable print order is kept). InvalidArgument
// if a live node or output refers to a dead or missing node.
absl::StatusOr<GraphProto> ToProto(const Graph& g);
// Validated as described above; the result passes Verify.
absl::StatusOr<Graph> FromProto(const GraphProto& p);

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_SERIALIZE_H_
