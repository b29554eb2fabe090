// What the two halves of the exporter share (models/onnx/onnx_export.cc: the
// graph around the recurrent layers and the fused cells' nodes;
// onnx_export_scan.cc: custom cells as Scan). Internal to models/onnx.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_EXPORT_INTERNAL_H_
#define GATEFUSE_MODELS_ONNX_ONNX_EXPORT_INTERNAL_H_

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "models/onnx/onnx_tensor.h"
#include "onnx/onnx_pb.h"

namespace gatefuse::onnx_export {

// A tensor-typed value info with symbolic ("T", "B") or fixed dimensions.
inline void SetType(onnx::ValueInfoProto* v, const std::string& name, int elem,
             const std::vector<std::string>& symbolic, const std::vector<int64_t>& fixed) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  for (size_t k = 0; k < symbolic.size(); ++k) {
    onnx::TensorShapeProto_Dimension* d = t->mutable_shape()->add_dim();
    if (!symbolic[k].empty()) {
      d->set_dim_param(symbolic[k]);
    } else {
      d->set_dim_value(fixed[k]);
    }
  }
}

// Adds initializers and nodes to one graph (the model's, or a Scan body); node
// names are `prefix` + op + number, so a body's never clash with the outer graph's.
class GraphWriter {
 public:
  explicit GraphWriter(onnx::GraphProto* g, std::string prefix = "")
      : g_(g), prefix_(std::move(prefix)) {}

  onnx::GraphProto* graph() { return g_; }

  void Initializer(const std::string& name, const Tensor& t) {
    *g_->add_initializer() = TensorToOnnx(t, name);
  }
  // An int64 [n] initializer (a Reshape's shape, a Slice's starts, an index).
  std::string Ints(const std::string& name, const std::vector<int64_t>& dims) {
    Tensor t = Tensor::Zeros({static_cast<int64_t>(dims.size())}, DType::kI64);
    std::memcpy(t.data<int64_t>(), dims.data(), dims.size() * sizeof(int64_t));
    Initializer(name, t);
    return name;
  }
  // A float scalar initializer.
  std::string Scalar(const std::string& name, double v) {
    Initializer(name, Tensor::Scalar(v, DType::kF32));
    return name;
  }
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(absl::StrCat(prefix_, op, "_", g_->node_size() - 1));
    for (const std::string& i : inputs) n->add_input(i);
    for (const std::string& o : outputs) n->add_output(o);
    return n;
  }

 private:
  onnx::GraphProto* g_;
  std::string prefix_;
};

// The nodes one custom cell's direction adds to `w`'s graph: the values that depend
// only on parameters or on the input sequence (the input projection) computed once
// outside the loop, then one Scan over the steps whose body is the rest of the
// step's equations. `x` [T, B, F] and `mask` [T, B, 1] (1 at a sequence's real
// steps, pre-padded) are names in `w`'s graph; `params` by the cell's parameter
// names. Returns the names of y [T, B, H] (zero at padded steps) and of the final
// states [B, H] in the cell's state order. Refuses an op with no ONNX form, naming
// it and its node.
struct ScanDirection {
  std::string y;
  std::vector<std::string> final_states;
};
absl::StatusOr<ScanDirection> ExportScanDirection(GraphWriter& w, const Graph& cell,
                                                  const std::map<std::string, Tensor>& params,
                                                  const std::string& scope, const std::string& x,
                                                  const std::string& mask, bool reverse);

}  // namespace gatefuse::onnx_export

#endif  // GATEFUSE_MODELS_ONNX_ONNX_EXPORT_INTERNAL_H_
