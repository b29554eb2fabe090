// gatefuse import | run | onnx-test: ONNX models in.
//
//   gatefuse import MODEL.onnx --out MODEL.gfm
//   gatefuse run MODEL.onnx|MODEL.gfm --inputs DIR [--outputs DIR] [--repeat N] [--threads N]
//   gatefuse onnx-test DIR...
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status.h"
#include "models/io/model_file.h"
#include "models/onnx/network.h"
#include "models/onnx/onnx_import.h"
#include "models/onnx/onnx_test_data.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/run_settings.h"

namespace gatefuse::cli {
namespace {

absl::Status SetThreads(const Args& args) {
  GF_ASSIGN_OR_RETURN(int64_t threads, args.GetInt("threads", 0));
  if (threads < 0 || threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("--threads ", threads, " is out of range"));
  }
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  return absl::OkStatus();
}

absl::Status ImportModel(const Args& args) {
  if (args.positionals.size() != 1 || !args.Has("out")) {
    return absl::InvalidArgumentError("usage: gatefuse import MODEL.onnx --out MODEL.gfm");
  }
  const std::string& path = args.positionals[0];
  GF_ASSIGN_OR_RETURN(ModelFile model, ImportOnnxFile(path));
  (*model.mutable_metadata())["onnx_file"] = path;
  // Built once before saving: a file gatefuse could not run is never written.
  GF_ASSIGN_OR_RETURN(Network net, Network::FromModelFile(model));
  GF_RETURN_IF_ERROR(SaveModelFile(model, args.Get("out", "")));
  std::printf("imported %s: %d nodes, %zu parameters, opset %lld (%s)\n", path.c_str(),
              model.network().nodes_size(), net.params().size(),
              static_cast<long long>(model.network().opset()), model.network().producer().c_str());
  for (const std::string& line : net.PathLines()) std::printf("%s\n", line.c_str());
  std::printf("saved %s\n", args.Get("out", "").c_str());
  return absl::OkStatus();
}

absl::Status RunModel(const Args& args) {
  if (args.positionals.size() != 1 || !args.Has("inputs")) {
    return absl::InvalidArgumentError(
        "usage: gatefuse run MODEL.onnx|MODEL.gfm --inputs DIR [--outputs DIR] [--repeat N] "
        "[--threads N]");
  }
  GF_RETURN_IF_ERROR(SetThreads(args));
  GF_ASSIGN_OR_RETURN(const int64_t repeat, args.GetInt("repeat", 0));
  if (repeat < 0) return absl::InvalidArgumentError("--repeat must be >= 0");
  GF_ASSIGN_OR_RETURN(Network net, LoadNetwork(args.positionals[0]));
  GF_ASSIGN_OR_RETURN(auto inputs, ReadTestInputs(args.Get("inputs", ""), net));
  GF_ASSIGN_OR_RETURN(auto outputs, net.Run(inputs));  // also the warm-up run
  if (args.Has("outputs")) GF_RETURN_IF_ERROR(WriteTestOutputs(args.Get("outputs", ""), net, outputs));
  if (repeat > 0) {
    std::vector<double> ms;
    for (int64_t k = 0; k < repeat; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      GF_RETURN_IF_ERROR(net.Run(inputs).status());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                       .count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms.size() % 2 ? ms[ms.size() / 2]
                                        : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
    std::printf("median_ms=%s runs=%lld\n", absl::StrFormat("%.4f", median).c_str(),
                static_cast<long long>(repeat));
  } else {
    for (const std::string& line : net.PathLines()) std::printf("%s\n", line.c_str());
    for (const std::string& name : net.output_names()) {
      std::printf("output %s: %s%s\n", name.c_str(), std::string(DTypeName(outputs.at(name).dtype())).c_str(),
                  outputs.at(name).shape().ToString().c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace

int Import(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {"out"}, {});
  if (!args.ok()) return Fail("import", kUsage, args.status());
  absl::Status st = ImportModel(*args);
  return st.ok() ? 0 : Fail("import", st.code() == absl::StatusCode::kInvalidArgument &&
                                          absl::StartsWith(st.message(), "usage:")
                                      ? kUsage
                                      : kFailed,
                            st);
}

int Run(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {"inputs", "outputs", "repeat", "threads"}, {});
  if (!args.ok()) return Fail("run", kUsage, args.status());
  absl::Status st = RunModel(*args);
  return st.ok() ? 0 : Fail("run", absl::StartsWith(st.message(), "usage:") ? kUsage : kFailed, st);
}

int OnnxTest(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {"threads"}, {"path"});
  if (!args.ok()) return Fail("onnx-test", kUsage, args.status());
  if (args->positionals.empty()) {
    return Fail("onnx-test", kUsage, absl::InvalidArgumentError("usage: gatefuse onnx-test DIR..."));
  }
  if (absl::Status st = SetThreads(*args); !st.ok()) return Fail("onnx-test", kUsage, st);
  int failed = 0;
  for (const std::string& dir : args->positionals) {
    const OnnxTestResult r = RunOnnxTest(dir);
    std::printf("%s\n", r.Line(dir).c_str());
    if (args->Has("path")) {
      for (const std::string& line : r.path_lines) std::printf("  %s\n", line.c_str());
    }
    failed += !r.ok;
  }
  std::printf("onnx-test: %zu passed, %d failed\n", args->positionals.size() - failed, failed);
  return failed == 0 ? 0 : kFailed;
}

}  // namespace gatefuse::cli
