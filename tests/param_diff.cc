// param_diff A.gfm B.gfm MAX_REL: compares the parameters of two model files, one
// line per parameter: its relative difference ||a - b|| / ||b|| (Euclidean norms),
// and the largest element-wise difference, max|a - b| / max|b|, with the element.
// Exits 1 if the files hold different parameter names or shapes, or a relative
// difference in norm exceeds MAX_REL (0: bit for bit). For the data-parallel tests
// (tests/distributed_test.sh): after a few Adam steps, summation order alone moves
// single elements further than the norm (Adam divides a gradient by its own size,
// so an element whose gradient is rounding noise of cancelling terms takes a step
// of noise); the norm measures the parameters as a whole.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "models/io/model_file.h"
#include "models/io/tensor_proto.h"

int main(int argc, char** argv) {
  double max_rel = 0;
  if (argc != 4 || !absl::SimpleAtod(argv[3], &max_rel)) {
    std::fprintf(stderr, "usage: param_diff A.gfm B.gfm MAX_REL\n");
    return 2;
  }
  using gatefuse::Tensor;
  std::map<std::string, Tensor> params[2];
  for (int k = 0; k < 2; ++k) {
    absl::StatusOr<gatefuse::ModelFile> file = gatefuse::LoadModelFile(argv[1 + k]);
    if (!file.ok()) {
      std::fprintf(stderr, "param_diff: %s\n", std::string(file.status().message()).c_str());
      return 2;
    }
    absl::StatusOr<std::map<std::string, Tensor>> p = gatefuse::ParameterTensors(*file);
    if (!p.ok()) {
      std::fprintf(stderr, "param_diff: %s\n", std::string(p.status().message()).c_str());
      return 2;
    }
    params[k] = *std::move(p);
  }
  if (params[0].size() != params[1].size()) {
    std::printf("different parameter counts: %zu and %zu\n", params[0].size(), params[1].size());
    return 1;
  }
  double worst = 0, worst_element = 0;
  bool same_layout = true;
  for (const auto& [name, a] : params[0]) {
    auto it = params[1].find(name);
    if (it == params[1].end() || it->second.shape() != a.shape()) {
      std::printf("%s: not in both with one shape\n", name.c_str());
      same_layout = false;
      continue;
    }
    const std::vector<double> x = a.ToVector(), y = it->second.ToVector();
    double diff = 0, scale = 0, diff2 = 0, norm2 = 0;
    size_t at = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double d = std::abs(x[i] - y[i]);
      if (d > diff) at = i;
      diff = std::max(diff, d);
      scale = std::max(scale, std::abs(y[i]));
      diff2 += d * d;
      norm2 += y[i] * y[i];
    }
    const double rel = diff2 == 0 ? 0 : std::sqrt(diff2 / std::max(norm2, 1e-300));
    const double elem = diff == 0 ? 0 : diff / std::max(scale, 1e-30);
    worst = std::max(worst, rel);
    worst_element = std::max(worst_element, elem);
    std::printf("%s: %.3g in norm, %.3g element-wise", name.c_str(), rel, elem);
    if (diff > 0) std::printf(" (element %zu: %.9g and %.9g)", at, x[at], y[at]);
    std::printf("\n");
  }
  std::printf("max relative difference %.3g in norm (allowed %.3g), %.3g element-wise\n", worst,
              max_rel, worst_element);
  return same_layout && worst <= max_rel ? 0 : 1;
}
