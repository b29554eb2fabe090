#include "passes/pass.h"

#include "gmock/gmock.h"
#include "passes/dead_code_elimination.h"
#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;
using testing::ParseOrDie;

constexpr char kGraph[] = R"(
graph f
input x : f64[2]
%0 = Tanh(x) : f64[2]
%1 = Exp(x) : f64[2]
output y = %1
)";

// A pass that breaks the graph: its output type no longer matches its op.
class Corrupt : public Pass {
 public:
  std::string name() const override { return "corrupt"; }
  absl::StatusOr<bool> Run(Graph& g) override {
    g.mutable_node(g.outputs()[0].value.node).outputs[0].shape = Shape({3});
    return true;
  }
};

class Fails : public Pass {
 public:
  std::string name() const override { return "fails"; }
  absl::StatusOr<bool> Run(Graph&) override { return absl::InvalidArgumentError("no"); }
};

TEST(PipelineTest, RecordsEveryPassAndWhetherItChanged) {
  Graph g = ParseOrDie(kGraph);
  Pipeline p({.verify = true});
  p.AddPass<DeadCodeElimination>();
  p.AddPass<DeadCodeElimination>();
  absl::StatusOr<bool> changed = p.Run(g);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  ASSERT_EQ(p.records().size(), 2u);
  EXPECT_EQ(p.records()[0].name, "dce");
  EXPECT_TRUE(p.records()[0].changed);
  EXPECT_FALSE(p.records()[1].changed);
  EXPECT_GE(p.records()[0].milliseconds, 0);
}

TEST(PipelineTest, VerifierCatchesABrokenPass) {
  Graph g = ParseOrDie(kGraph);
  Pipeline p({.verify = true});
  p.AddPass<Corrupt>();
  absl::Status s = p.Run(g).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("after pass corrupt"));
  EXPECT_THAT(s.message(), HasSubstr("f64[3]"));
}

TEST(PipelineTest, PassErrorsNameThePass) {
  Graph g = ParseOrDie(kGraph);
  Pipeline p;
  p.AddPass<Fails>();
  EXPECT_THAT(p.Run(g).status().message(), HasSubstr("pass fails: no"));
}

TEST(PipelineTest, DumpsAfterTheNamedPass) {
  Graph g = ParseOrDie(kGraph);
  std::vector<std::string> dumped;
  Pipeline p({.verify = true, .dump_after = "dce", .dump = [&](const std::string& pass,
                                                               const Graph& graph) {
                dumped.push_back(pass + ":" + std::to_string(graph.num_live_nodes()));
              }});
  p.AddPass<Corrupt>();
  Pipeline q({.verify = false, .dump_after = "dce", .dump = [&](const std::string& pass,
                                                                const Graph& graph) {
                dumped.push_back(pass + ":" + std::to_string(graph.num_live_nodes()));
              }});
  q.AddPass<DeadCodeElimination>();
  ASSERT_TRUE(q.Run(g).ok());
  EXPECT_EQ(dumped, std::vector<std::string>({"dce:2"}));
}

}  // namespace
}  // namespace gatefuse
