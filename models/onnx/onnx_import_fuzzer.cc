// libFuzzer target for the ONNX importer (built and run by `tools/fuzz.sh
// onnx_import` with clang's -fsanitize=fuzzer,address,undefined;
// tests:onnx_import_fuzz_corpus_test replays tests/fuzz_corpus/onnx_import/
// through it in the normal build). The corpus starts from the models of
// tests/data/onnx/torch and ONNX's recurrent node tests.
//
// Every input is taken as an .onnx file. Beyond "no crash": an error is
// InvalidArgument or DataLoss (never an internal error); a model that imports
// saves as a .gfm that loads; a network that builds runs on small inputs of its
// declared shapes (free dimensions 2) and gives every output or an error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "models/io/model_file.h"
#include "models/onnx/network.h"
#include "models/onnx/onnx_import.h"

namespace {

using namespace gatefuse;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

bool Refusal(const absl::Status& st) {
  return st.code() == absl::StatusCode::kInvalidArgument ||
         st.code() == absl::StatusCode::kDataLoss;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The seeds are files of the repository, which tools/fuzz.sh adds.
  if (std::getenv("GATEFUSE_FUZZ_WRITE_SEEDS") != nullptr) std::exit(0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ModelFile> model = ImportOnnxBytes(input, "fuzz.onnx");
  if (!model.ok()) {
    Require(Refusal(model.status()));
    return 0;
  }
  absl::StatusOr<std::string> bytes = SerializeModelFile(*model);
  Require(bytes.ok());
  Require(ParseModelFileBytes(*bytes).ok());
  absl::StatusOr<Network> net = Network::FromModelFile(*model);
  if (!net.ok()) {
    Require(Refusal(net.status()));
    return 0;
  }
  std::map<std::string, Tensor> inputs;
  int64_t total = 0;
  for (const NetworkValueProto& in : net->proto().inputs()) {
    std::vector<int64_t> dims;
    int64_t n = 1;
    for (int64_t d : in.dims()) {
      dims.push_back(d < 0 ? 2 : d);
      n *= std::min<int64_t>(dims.back(), 1 << 16);
      if (n > (1 << 16)) return 0;  // too big to run in a fuzzer: built is enough
    }
    total += n;
    const bool is_int = in.elem_type() != "float" && in.elem_type() != "double";
    // Integers 0 and 1: valid indices, lengths and shapes for most models.
    inputs[in.name()] = is_int ? Tensor::Uniform(Shape(dims), DType::kF32, 1, 0, 1.99).Cast(DType::kI64)
                               : Tensor::Uniform(Shape(dims), DType::kF32, 1, -1, 1);
  }
  if (total > (1 << 16)) return 0;
  absl::StatusOr<std::map<std::string, Tensor>> out = net->Run(inputs);
  if (out.ok()) {
    Require(out->size() == net->output_names().size());
  } else {
    Require(Refusal(out.status()));
  }
  return 0;
}
