#include "models/onnx/onnx_test_data.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/compare.h"
#include "core/status.h"
#include "models/onnx/onnx_import.h"
#include "models/onnx/onnx_tensor.h"

namespace gatefuse {
namespace {

// Entries of `folder` named <prefix><n><suffix>, by n.
absl::StatusOr<std::vector<std::string>> Numbered(const std::string& folder,
                                                  const std::string& prefix,
                                                  const std::string& suffix) {
  DIR* d = opendir(folder.c_str());
  if (d == nullptr) return absl::NotFoundError(absl::StrCat(folder, ": cannot open the folder"));
  std::vector<std::pair<int, std::string>> found;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    int n = 0;
    if (absl::StartsWith(name, prefix) && absl::EndsWith(name, suffix) &&
        absl::SimpleAtoi(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()),
                         &n)) {
      found.emplace_back(n, name);
    }
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (const auto& [n, name] : found) out.push_back(absl::StrCat(folder, "/", name));
  return out;
}

}  // namespace

absl::StatusOr<std::map<std::string, Tensor>> ReadTestInputs(const std::string& folder,
                                                             const Network& net) {
  GF_ASSIGN_OR_RETURN(std::vector<std::string> files, Numbered(folder, "input_", ".pb"));
  std::map<std::string, Tensor> inputs;
  const std::vector<std::string>& names = net.input_names();
  std::set<std::string> known(names.begin(), names.end());
  for (size_t k = 0; k < files.size(); ++k) {
    GF_ASSIGN_OR_RETURN(onnx::TensorProto p, ReadOnnxTensorFile(files[k]));
    std::string name = p.name();
    if (name.empty() || !known.count(name)) {
      if (k >= names.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            files[k], ": the network has ", names.size(), " inputs, this is input ", k));
      }
      name = names[k];
    }
    GF_ASSIGN_OR_RETURN(inputs[name], TensorFromOnnx(p, files[k]));
  }
  return inputs;
}

absl::StatusOr<std::vector<Tensor>> ReadTestOutputs(const std::string& folder) {
  GF_ASSIGN_OR_RETURN(std::vector<std::string> files, Numbered(folder, "output_", ".pb"));
  std::vector<Tensor> out;
  for (const std::string& f : files) {
    GF_ASSIGN_OR_RETURN(onnx::TensorProto p, ReadOnnxTensorFile(f));
    GF_ASSIGN_OR_RETURN(Tensor t, TensorFromOnnx(p, f));
    out.push_back(t);
  }
  return out;
}

absl::Status WriteTestOutputs(const std::string& folder, const Network& net,
                              const std::map<std::string, Tensor>& outputs) {
  for (size_t k = 0; k < net.output_names().size(); ++k) {
    const std::string& name = net.output_names()[k];
    auto it = outputs.find(name);
    if (it == outputs.end()) return absl::InternalError(absl::StrCat("no output '", name, "'"));
    GF_RETURN_IF_ERROR(WriteOnnxTensorFile(TensorToOnnx(it->second, name),
                                           absl::StrCat(folder, "/output_", k, ".pb")));
  }
  return absl::OkStatus();
}

std::string OnnxTestResult::Line(const std::string& dir) const {
  return absl::StrCat(dir, " max_rel_err=", absl::StrFormat("%.3g", max_rel_err),
                      ok ? " OK" : " FAIL", reason.empty() ? "" : " ", reason);
}

OnnxTestResult RunOnnxTest(const std::string& dir, double tolerance) {
  OnnxTestResult r;
  auto fail = [&](const absl::Status& s) {
    r.ok = false;
    r.reason = std::string(s.message());
    if (r.max_rel_err == 0) r.max_rel_err = INFINITY;
    return r;
  };
  absl::StatusOr<Network> net = LoadNetwork(absl::StrCat(dir, "/model.onnx"));
  if (!net.ok()) return fail(net.status());
  r.path_lines = net->PathLines();
  absl::StatusOr<std::vector<std::string>> sets = Numbered(dir, "test_data_set_", "");
  if (!sets.ok()) return fail(sets.status());
  if (sets->empty()) return fail(absl::NotFoundError("no test_data_set_* folder"));
  std::string worst;
  for (const std::string& set : *sets) {
    absl::StatusOr<std::map<std::string, Tensor>> inputs = ReadTestInputs(set, *net);
    if (!inputs.ok()) return fail(inputs.status());
    absl::StatusOr<std::vector<Tensor>> refs = ReadTestOutputs(set);
    if (!refs.ok()) return fail(refs.status());
    absl::StatusOr<std::map<std::string, Tensor>> ours = net->Run(*inputs);
    if (!ours.ok()) return fail(ours.status());
    if (refs->size() != net->output_names().size()) {
      return fail(absl::InvalidArgumentError(absl::StrCat(set, ": ", refs->size(),
                                                          " reference outputs for ",
                                                          net->output_names().size())));
    }
    for (size_t k = 0; k < refs->size(); ++k) {
      const std::string& name = net->output_names()[k];
      const Tensor& mine = ours->at(name);
      Tensor ref = (*refs)[k];
      if (IsFloating(ref.dtype()) && ref.dtype() != mine.dtype()) ref = ref.Cast(mine.dtype());
      const TensorComparison c = CompareTensors(mine, ref);
      if (!(c.error <= r.max_rel_err)) {
        r.max_rel_err = c.error;
        worst = absl::StrCat("output '", name, "' ", c.Describe(ref.shape()), " in ", set);
      }
    }
    ++r.data_sets;
  }
  r.ok = r.max_rel_err <= tolerance;
  if (!r.ok) r.reason = worst;
  return r;
}

}  // namespace gatefuse
