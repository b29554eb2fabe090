#include "tests/recognition_testing.h"

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "graph/sequence_compare.h"
#include "gtest/gtest.h"
#include "models/cells/cell_language.h"
#include "passes/recognize_cell.h"
#include "passes/standard_pipeline.h"

namespace gatefuse::testing_recognition {

using ::testing::HasSubstr;

const char kLstm[] = R"(cell near
input x[I]
state h[H] c[H]
param Wi[I,H] Wf[I,H] Wg[I,H] Wo[I,H] Ui[H,H] Uf[H,H] Ug[H,H] Uo[H,H]
param bi[H] bf[H] bg[H] bo[H] pi[H] pf[H] po[H]
i = sigmoid(x @ Wi + h @ Ui + bi)
f = sigmoid(x @ Wf + h @ Uf + bf)
g = tanh(x @ Wg + h @ Ug + bg)
c2 = f * c + i * g
o = sigmoid(x @ Wo + h @ Uo + bo)
next c = c2
next h = o * tanh(c2)
)";

const char kGru[] = R"(cell near
input x[I]
state h[H]
param Wr[I,H] Wz[I,H] Wn[I,H] Ur[H,H] Uz[H,H] Un[H,H] br[H] bz[H] bn[H] bhn[H]
r = sigmoid(x @ Wr + h @ Ur + br)
z = sigmoid(x @ Wz + h @ Uz + bz)
n = tanh(x @ Wn + bn + (r * h) @ Un)
next h = (1 - z) * n + z * h
)";

Compiled Compile(const std::string& text, bool recognize) {
  Compiled c;
  absl::StatusOr<CellSource> src = ParseCellSource(text, "spelling.cell");
  EXPECT_TRUE(src.ok()) << src.status() << "\n" << text;
  if (!src.ok()) return c;
  absl::StatusOr<Graph> g = CompileCell(*src, {{"I", 3}, {"H", 4}}, DType::kF64);
  EXPECT_TRUE(g.ok()) << g.status() << "\n" << text;
  if (!g.ok()) return c;
  c.source = *g;
  c.compiled = *g;
  Pipeline p({.verify = true});
  AddStandardPasses(p, {.recognize = recognize});
  absl::Status s = p.Run(c.compiled).status();
  EXPECT_TRUE(s.ok()) << s << "\n" << text;
  c.fusion = FusionKind(c.compiled);
  return c;
}

void ExpectFuses(const std::string& text, const std::string& kind) {
  SCOPED_TRACE(text);
  Compiled c = Compile(text);
  ASSERT_EQ(c.fusion, kind);
  absl::StatusOr<SequenceComparison> cmp =
      CompareCellGraphs(c.compiled, c.source, {.T = 4, .B = 3, .dtype = DType::kF64});
  ASSERT_TRUE(cmp.ok()) << cmp.status();
  EXPECT_LE(cmp->max_rel_err, 1e-10) << "worst: " << cmp->worst;
}

void ExpectRefused(const std::string& text, const std::string& kind, const std::string& why) {
  SCOPED_TRACE(text);
  Compiled c = Compile(text);
  EXPECT_EQ(c.fusion, "custom");
  absl::StatusOr<SequenceComparison> cmp =
      CompareCellGraphs(c.compiled, c.source, {.T = 4, .B = 3, .dtype = DType::kF64});
  ASSERT_TRUE(cmp.ok()) << cmp.status();
  EXPECT_LE(cmp->max_rel_err, 1e-10);
  Graph canonical = c.source;
  Pipeline prefix;
  AddCanonicalPasses(prefix);
  ASSERT_TRUE(prefix.Run(canonical).ok());
  for (const CandidateReport& r : ExplainRecognition(canonical)) {
    if (r.kind == kind) {
      EXPECT_FALSE(r.matched);
      EXPECT_THAT(r.detail, HasSubstr(why));
    }
  }
}

std::string Change(const std::string& text, const std::string& from, const std::string& to) {
  EXPECT_NE(text.find(from), std::string::npos) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}


}  // namespace gatefuse::testing_recognition
