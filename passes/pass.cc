#include "passes/pass.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "graph/verifier.h"

namespace gatefuse {

absl::StatusOr<bool> Pipeline::Run(Graph& g) {
  records_.clear();
  bool any = false;
  for (const auto& pass : passes_) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<bool> changed = pass->Run(g);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
    if (!changed.ok()) {
      return absl::Status(changed.status().code(),
                          absl::StrCat("pass ", pass->name(), ": ", changed.status().message()));
    }
    records_.push_back({pass->name(), *changed, ms});
    any = any || *changed;
    if (options_.verify) {
      absl::Status s = Verify(g);
      if (!s.ok()) {
        return absl::InternalError(
            absl::StrCat("the graph fails verification after pass ", pass->name(), ": ",
                         s.message()));
      }
    }
    if (options_.dump && (options_.dump_after == "all" || options_.dump_after == pass->name())) {
      options_.dump(pass->name(), g);
    }
  }
  return any;
}

std::vector<std::string> Pipeline::PassNames() const {
  std::vector<std::string> names;
  for (const auto& p : passes_) names.push_back(p->name());
  return names;
}

}  // namespace gatefuse
