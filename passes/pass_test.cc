#include "passes/pass.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "passes/dead_code_elimination.h"
#include "passes/testing/pass_test_main.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
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

// A pass that looks and changes nothing.
class Unchanged : public Pass {
 public:
  std::string name() const override { return "unchanged"; }
  absl::StatusOr<bool> Run(Graph&) override { return false; }
};

class Fails : public Pass {
 public:
  std::string name() const override { return "fails"; }
  absl::StatusOr<bool> Run(Graph&) override { return absl::InvalidArgumentError("no"); }
};

// (name, changed) of every record, in order.
std::vector<std::pair<std::string, bool>> NamesAndChanged(const Pipeline& p) {
  std::vector<std::pair<std::string, bool>> out;
  for (const PassRecord& r : p.records()) out.emplace_back(r.name, r.changed);
  return out;
}

TEST(PipelineTest, RecordsEveryPassInOrderAndWhetherItChanged) {
  Graph g = ParseOrDie(kGraph);
  ASSERT_EQ(g.num_live_nodes(), 3);
  Pipeline p({.verify = true});
  p.AddPass<Unchanged>();
  p.AddPass<DeadCodeElimination>();
  p.AddPass<DeadCodeElimination>();
  absl::StatusOr<bool> changed = p.Run(g);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(g.num_live_nodes(), 2);  // the unused Tanh is gone
  EXPECT_THAT(NamesAndChanged(p),
              ElementsAre(Pair("unchanged", false), Pair("dce", true), Pair("dce", false)));
  // Running again replaces the records; nothing is left to remove.
  changed = p.Run(g);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
  EXPECT_THAT(NamesAndChanged(p),
              ElementsAre(Pair("unchanged", false), Pair("dce", false), Pair("dce", false)));
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
  std::vector<std::string> dumped;
  auto dump = [&](const std::string& pass, const Graph& graph) {
    dumped.push_back(pass + ":" + std::to_string(graph.num_live_nodes()));
  };
  Graph g = ParseOrDie(kGraph);
  Pipeline p({.verify = true, .dump_after = "dce", .dump = dump});
  p.AddPass<Unchanged>();
  p.AddPass<DeadCodeElimination>();
  ASSERT_TRUE(p.Run(g).ok());
  EXPECT_EQ(dumped, std::vector<std::string>({"dce:2"}));

  dumped.clear();
  Graph h = ParseOrDie(kGraph);
  Pipeline all({.verify = true, .dump_after = "all", .dump = dump});
  all.AddPass<Unchanged>();
  all.AddPass<DeadCodeElimination>();
  ASSERT_TRUE(all.Run(h).ok());
  EXPECT_EQ(dumped, std::vector<std::string>({"unchanged:3", "dce:2"}));
}

}  // namespace
}  // namespace gatefuse
