// A Pass rewrites a Graph in place and says whether it changed anything; a
// Pipeline runs passes in order, verifies the graph between them, and records
// each pass's time and whether it changed the graph.
//
//   Pipeline p({.verify = true});
//   p.AddPass<Canonicalize>();
//   p.AddPass<DeadCodeElimination>();
//   GF_ASSIGN_OR_RETURN(bool changed, p.Run(graph));
#ifndef GATEFUSE_PASSES_PASS_H_
#define GATEFUSE_PASSES_PASS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace gatefuse {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // True if the graph changed. On error the graph may be partly rewritten.
  virtual absl::StatusOr<bool> Run(Graph& g) = 0;
};

struct PipelineOptions {
  // Run the verifier after every pass (always on in tests; costs a shape
  // inference per node).
  bool verify = false;
  // Called after a pass whose name matches `dump_after` ("all" for every pass).
  std::string dump_after;
  std::function<void(const std::string& pass, const Graph& g)> dump;
};

struct PassRecord {
  std::string name;
  bool changed = false;
  double milliseconds = 0;
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options = {}) : options_(std::move(options)) {}

  template <typename T, typename... Args>
  T& AddPass(Args&&... args) {
    auto pass = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *pass;
    passes_.push_back(std::move(pass));
    return ref;
  }

  // True if any pass changed the graph. Errors name the pass.
  absl::StatusOr<bool> Run(Graph& g);
  // One record per pass run, in order (from the last Run).
  const std::vector<PassRecord>& records() const { return records_; }
  std::vector<std::string> PassNames() const;

 private:
  PipelineOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassRecord> records_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_PASSES_PASS_H_
