// Robustness of the .cell front end (cell_language.h): deterministic mutations of
// valid sources never crash, and every failure is a located InvalidArgument.
// (tools/fuzz.sh runs the same front end under libFuzzer.)
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"

namespace gatefuse {
namespace {

const std::map<std::string, int64_t> kSizes = {{"I", 3}, {"H", 5}};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Deterministic mutations of a valid source: deleted and inserted characters,
// truncation. Every outcome is OK or an InvalidArgument that names the file.
void Mutate(const std::string& base, int runs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::string alphabet = "()@+-*=,[]x1#\n";
  int ok = 0, errors = 0;
  for (int run = 0; run < runs; ++run) {
    std::string text = base;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < n; ++m) {
      switch (rng() % 5) {
        case 0:
        case 1:
          if (!text.empty()) text.erase(rng() % text.size(), 1);
          break;
        case 2:
        case 3:
          text.insert(text.begin() + rng() % (text.size() + 1), alphabet[rng() % alphabet.size()]);
          break;
        default:
          text.resize(rng() % (text.size() + 1));
          break;
      }
    }
    absl::StatusOr<CellSource> src = ParseCellSource(text, "mut.cell");
    absl::StatusOr<Graph> g = src.ok() ? CompileCell(*src, kSizes) : absl::StatusOr<Graph>(src.status());
    if (!g.ok()) {
      ++errors;
      EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << g.status();
      EXPECT_TRUE(absl::StartsWith(g.status().message(), "mut.cell:")) << g.status() << "\n"
                                                                        << text;
      continue;
    }
    ++ok;
    // A compiled cell also runs as a Cell, or says why not (it names the cell).
    absl::StatusOr<Cell> cell = CellFromGraph(*g);
    if (!cell.ok()) {
      EXPECT_TRUE(absl::StartsWith(cell.status().message(), "cell ")) << cell.status();
    }
  }
  ::testing::Test::RecordProperty("compiled", ok);
  ::testing::Test::RecordProperty("errors", errors);
  EXPECT_GT(errors, runs / 4);
  EXPECT_GT(ok, 0);
}

TEST(CellLanguageRobustnessTest, MutatedLstmNeverCrashes) {
  Mutate(ReadText("models/cells/lstm.cell"), 2000, 1);
}

TEST(CellLanguageRobustnessTest, MutatedCellWithEveryConstructNeverCrashes) {
  Mutate(absl::StrCat("# every construct\ncell every\ninput x[I]\nstate h[H] c[H]\n",
                      "param W[I,4*H] U[H,4*H] b[4*H] V[2*H,H]\n",
                      "i, f, g, o = split(x @ W + h @ U + b, 4)\n",
                      "c2 = sigmoid(f + 1) * c + (1 - sigmoid(-i)) * tanh(g) * 0.5e0\n",
                      "next c = relu(c2) - exp(-c2) + log(1 + exp(c2))\n",
                      "next h = sigmoid(o) * tanh(concat(c2, h) @ V)\n"),
         2000, 2);
}

TEST(CellLanguageRobustnessTest, MutatedCellWithTheActivationsNeverCrashes) {
  // Mutations reach wrong arities, non-literal scalars and functions of numbers.
  Mutate(absl::StrCat("cell acts\ninput x[I]\nstate h[H] c[H]\nparam W[I,2*H] U[H,2*H]\n",
                      "f, g = split(x @ W + h @ U, 2)\n",
                      "c2 = hard_sigmoid(f, 0.2, 0.5) * c + clip(g, -3, 3) * softsign(g)\n",
                      "next c = elu(c2, 1e-1) - leaky_relu(-c2, 0.01) + thresholded_relu(c2, 1)\n",
                      "next h = softplus(c2) * abs(h) - sqrt(c2 * c2 + 1e-3)\n"),
         2000, 3);
}

TEST(CellLanguageRobustnessTest, MutatedLayerNormCellsNeverCrash) {
  // Mutations reach reductions of reductions, wrong gain shapes, broken initialisers.
  Mutate(ReadText("models/cells/ln_lstm.cell"), 2000, 4);
  Mutate(absl::StrCat("cell red\ninput x[I]\nstate h[H]\nparam W[I,H] g[H] = 1 s[H] = -0.5\n",
                      "m = mean(x @ W) / (1 + sum(abs(h)))\n",
                      "next h = layer_norm(min(h, m) + max(x @ W, 0.5), g, s) / 2\n"),
         2000, 5);
}

}  // namespace
}  // namespace gatefuse
