// Network: a model imported from ONNX, runnable, differentiable and savable.
//
// A Network is a list of nodes with ONNX's op semantics (models/io/model_file.proto
// NetworkProto) over named values. Each recurrent node (LSTM, GRU, RNN) holds one
// cell per direction, written as equations in the .cell language
// (models/onnx/onnx_cells.h), compiled by the standard passes: a cell they
// recognise runs as one fused oneDNN primitive per sequence, any other through the
// compiled plan — the same paths as gatefuse's own Recurrent layer. Every other
// node runs as gatefuse ops on the tape; a Scan runs its body (a subgraph) on the
// tape once per iteration.
//
//   GF_ASSIGN_OR_RETURN(Network net, ImportOnnxFile("lstm.onnx"));   // onnx_import.h
//   GF_ASSIGN_OR_RETURN(auto outputs, net.Run({{"X", x}}));          // by name
//   GF_RETURN_IF_ERROR(SaveModelFile(net.ToModelFile(), "lstm.gfm"));
//
// Run may be called from many threads at once on one Network: it reads the
// network and its parameters and records nothing on any tape. Forward is the
// training entry: its outputs are Vars on the calling thread's tape, and Backward
// from them accumulates into the grad() of params() (one thread at a time).
//
// Values: floating tensors (the network's dtype, f32 unless options say f64 —
// f64 for finite-difference checks) and integer tensors (i64; ONNX's narrower
// integer types are read as i64). Float initializers are parameters (trainable);
// integer ones and Constant nodes are constants, and every node whose inputs are
// all constants is evaluated once when the network is built (the shape
// arithmetic of exported models, where the shapes are known).
#ifndef GATEFUSE_MODELS_ONNX_NETWORK_H_
#define GATEFUSE_MODELS_ONNX_NETWORK_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tape.h"
#include "models/io/model_file.h"

namespace gatefuse {

struct NetworkOptions {
  DType dtype = DType::kF32;  // of every floating value and parameter
  bool recognize = true;      // false: recurrent cells never fuse (for comparisons)
};

class Network {
 public:
  // `params` by name: the float ones become trainable leaves (converted to the
  // options' dtype), the integer ones constants. InvalidArgument naming the node
  // for an op, attribute or input the network cannot run.
  static absl::StatusOr<Network> Create(const NetworkProto& proto,
                                        const std::map<std::string, Tensor>& params,
                                        const NetworkOptions& options = {});
  // A model file holding a network (ModelFile.network).
  static absl::StatusOr<Network> FromModelFile(const ModelFile& model,
                                               const NetworkOptions& options = {});

  // Every graph input by name (an optional one may be left out only if no node
  // needs it); floating inputs are converted to the network's dtype, integer ones
  // to i64. Returns every graph output by name. Thread-safe.
  absl::StatusOr<std::map<std::string, Tensor>> Run(
      const std::map<std::string, Tensor>& inputs) const;
  // The same on the tape, with the parameters as leaves.
  absl::StatusOr<std::map<std::string, Var>> Forward(const std::map<std::string, Var>& inputs) const;

  // The network and its current parameter values, for SaveModelFile.
  ModelFile ToModelFile() const;

  const NetworkProto& proto() const;
  const std::vector<std::string>& input_names() const;
  const std::vector<std::string>& output_names() const;
  // Trainable parameters by name (leaves requiring gradients).
  const std::map<std::string, Var>& params() const;
  DType dtype() const;
  // How each recurrent node's directions run: "path: fused lstm (LSTM_0.fwd)".
  std::vector<std::string> PathLines() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// How one node runs: its inputs (undefined Vars for inputs left out by an empty
// name), then the values its subgraphs read from the enclosing scope
// (CapturedNames), to its outputs, with the network's parameters looked up in
// `params`.
using NodeFn = std::function<absl::StatusOr<std::vector<Var>>(
    const std::vector<Var>& inputs, const std::map<std::string, Var>& params)>;

// What building a node may read: the network's options and opset, the constants
// known at build time (nullptr for a value computed at run time), and where the
// node's recurrent cells report how they run.
struct NodeContext {
  NetworkOptions options;
  int64_t opset = 0;
  std::vector<const Tensor*> constant_inputs;  // one per node input
  std::map<std::string, Shape> param_shapes;
  std::vector<std::string>* path_lines = nullptr;
};

// The run function of a non-recurrent node (network_ops.cc), of a recurrent one
// (recurrent_node.cc) or of a Scan (network_scan.cc). InvalidArgument naming what
// is unsupported.
absl::StatusOr<NodeFn> MakeNodeFn(const NetworkNodeProto& node, const NodeContext& context);
absl::StatusOr<NodeFn> MakeRecurrentNodeFn(const NetworkNodeProto& node, const NodeContext& context);
absl::StatusOr<NodeFn> MakeScanNodeFn(const NetworkNodeProto& node, const NodeContext& context);

// The names a subgraph reads from its enclosing scopes (ONNX's outer-scope
// references: the enclosing graph's inputs, parameters and values), sorted; of a
// node, those of all its subgraph attributes.
std::vector<std::string> FreeNames(const NetworkProto& body);
std::vector<std::string> CapturedNames(const NetworkNodeProto& node);

// A subgraph (Scan's body), built once with its node and run at each iteration on
// the calling thread's tape. Its nodes read its inputs, its own values and the
// enclosing values FreeNames lists; it has no parameters of its own (the
// enclosing network's are read by name like any outer value).
class NetworkBody {
 public:
  // `context`: the node's (options, opset, where recurrent cells report).
  static absl::StatusOr<NetworkBody> Create(const NetworkProto& body, const NodeContext& context);
  // `inputs` in the body's input order (checked against its declared types and
  // fixed dims), `outer` the values of FreeNames(body) in that order. Returns
  // the body's outputs in order.
  absl::StatusOr<std::vector<Var>> Run(const std::vector<Var>& inputs,
                                       const std::vector<Var>& outer) const;
  int num_inputs() const;
  int num_outputs() const;
  int num_nodes() const;  // left to run at each iteration (constants folded)

 private:
  std::shared_ptr<const Network::Impl> impl_;
  std::vector<std::string> free_names_;
};
bool IsRecurrentOp(const std::string& op);
// The ops MakeNodeFn and MakeRecurrentNodeFn take, sorted.
std::vector<std::string> SupportedOnnxOps();

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_NETWORK_H_
