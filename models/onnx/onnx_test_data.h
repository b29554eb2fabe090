// The ONNX backend test layout, read and written, and the check behind
// `gatefuse onnx-test`:
//
//   DIR/model.onnx
//   DIR/test_data_set_0/input_0.pb ... output_0.pb ...   (serialized TensorProtos)
//
// Inputs are matched to the network's by their TensorProto name, or by position
// when the name is empty; output_k is the network's k-th output. The comparison is
// core/compare.h's: max |ours - ref| / max |ref| per output, NaN or Inf fails.
#ifndef GATEFUSE_MODELS_ONNX_ONNX_TEST_DATA_H_
#define GATEFUSE_MODELS_ONNX_ONNX_TEST_DATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "models/onnx/network.h"

namespace gatefuse {

// input_0.pb, input_1.pb ... of `folder` (in numeric order), by network input name.
absl::StatusOr<std::map<std::string, Tensor>> ReadTestInputs(const std::string& folder,
                                                             const Network& net);
// output_0.pb ... (in numeric order), unnamed.
absl::StatusOr<std::vector<Tensor>> ReadTestOutputs(const std::string& folder);
// Writes output_k.pb for each network output k, named after it.
absl::Status WriteTestOutputs(const std::string& folder, const Network& net,
                              const std::map<std::string, Tensor>& outputs);

struct OnnxTestResult {
  double max_rel_err = 0;  // the worst output of the worst data set
  bool ok = false;
  std::string reason;      // why not ok, or empty
  int data_sets = 0;
  std::vector<std::string> path_lines;
  // "<DIR> max_rel_err=<e> OK|FAIL [reason]"
  std::string Line(const std::string& dir) const;
};

// Loads DIR/model.onnx and checks every DIR/test_data_set_* against it; an error
// of the model or of its data is a FAIL with the error as reason, never a crash.
OnnxTestResult RunOnnxTest(const std::string& dir, double tolerance = 1e-4);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_ONNX_ONNX_TEST_DATA_H_
