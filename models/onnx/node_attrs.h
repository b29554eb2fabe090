// Typed access to a network node's attributes, for the functions that build nodes.
// Every read marks the attribute as known; Unread() lists what the builder never
// looked at, so an attribute gatefuse does not implement is refused by name
// instead of ignored.
#ifndef GATEFUSE_MODELS_ONNX_NODE_ATTRS_H_
#define GATEFUSE_MODELS_ONNX_NODE_ATTRS_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/io/model_file.pb.h"

namespace gatefuse {

class NodeAttrs {
 public:
  explicit NodeAttrs(const NetworkNodeProto& node) : node_(node) {}

  bool Has(const std::string& name) const { return Find(name) != nullptr; }
  // The attribute, or `fallback` when absent; InvalidArgument when present with
  // another kind.
  absl::StatusOr<int64_t> Int(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> Float(const std::string& name, double fallback) const;
  absl::StatusOr<std::string> String(const std::string& name, const std::string& fallback) const;
  absl::StatusOr<std::vector<int64_t>> Ints(const std::string& name) const;      // {} if absent
  absl::StatusOr<std::vector<double>> Floats(const std::string& name) const;     // {} if absent
  absl::StatusOr<std::vector<std::string>> Strings(const std::string& name) const;
  absl::StatusOr<const TensorProto*> TensorAttr(const std::string& name) const;  // null if absent
  absl::StatusOr<const NetworkProto*> Graph(const std::string& name) const;       // null if absent

  // OK, or InvalidArgument naming the first attribute never read.
  absl::Status CheckAllRead() const;
  // "LSTM node 'lstm_1'": how errors name the node.
  std::string Where() const;

 private:
  const NetworkAttributeProto* Find(const std::string& name) const;
  absl::StatusOr<const NetworkAttributeProto*> Get(const std::string& name,
                                                   NetworkAttributeProto::Kind kind) const;
  const NetworkNodeProto& node_;
  mutable std::set<std::string> read_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_NODE_ATTRS_H_
