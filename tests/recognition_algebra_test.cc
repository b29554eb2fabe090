// Recognition by algebra: spellings of a cell that are equal as polynomials (with
// sigmoid, tanh and exp identities) fuse to the cell; the near misses, which are
// other functions, stay custom with the term that breaks the match named.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/recognition_testing.h"

namespace gatefuse {
namespace {

using testing_recognition::Change;
using testing_recognition::ExpectFuses;
using testing_recognition::ExpectRefused;
using testing_recognition::kGru;
using testing_recognition::kLstm;



const char kCifg[] = R"(cell algebra
input x[I]
state h[H] c[H]
param Wi[I,H] Wg[I,H] Wo[I,H] Ui[H,H] Ug[H,H] Uo[H,H] bi[H] bg[H] bo[H]
i = sigmoid(x @ Wi + h @ Ui + bi)
g = x @ Wg + h @ Ug + bg
c2 = (1 - i) * c + i * tanh(g)
o = sigmoid(x @ Wo + h @ Uo + bo)
next c = c2
next h = o * tanh(c2)
)";

const char kRnn[] = R"(cell algebra
input x[I]
state h[H]
param W[I,H] U[H,H] b[H]
a = x @ W + h @ U + b
next h = tanh(a)
)";

TEST(RecognitionAlgebraTest, TheGruUpdateExpandedOrFactored) {
  ExpectFuses(kGru, "gru");
  ExpectFuses(Change(kGru, "next h = (1 - z) * n + z * h", "next h = n + z * h - z * n"), "gru");
  ExpectFuses(Change(kGru, "next h = (1 - z) * n + z * h", "next h = z * (h - n) + n"), "gru");
  ExpectFuses(Change(kGru, "next h = (1 - z) * n + z * h", "next h = h - (1 - z) * (h - n)"),
              "gru");
}

TEST(RecognitionAlgebraTest, LinearBeforeResetDistributed) {
  ExpectFuses(Change(kGru, "n = tanh(x @ Wn + bn + (r * h) @ Un)",
                     "n = tanh(x @ Wn + bn + r * (h @ Un) + r * bhn)"),
              "gru_lbr");
  ExpectFuses(Change(kGru, "n = tanh(x @ Wn + bn + (r * h) @ Un)",
                     "n = tanh(x @ Wn + bn + r * (h @ Un + bhn))"),
              "gru_lbr");
  // The reset gate distributed over h before the matmul is the other GRU.
  ExpectFuses(Change(kGru, "(r * h) @ Un", "(r * h + 0 * h) @ Un"), "gru");
}

TEST(RecognitionAlgebraTest, TheCoupledCellUpdateExpanded) {
  ExpectFuses(kCifg, "cifg");
  ExpectFuses(Change(kCifg, "c2 = (1 - i) * c + i * tanh(g)", "c2 = c - i * c + i * tanh(g)"),
              "cifg");
  ExpectFuses(Change(kCifg, "c2 = (1 - i) * c + i * tanh(g)", "c2 = c + i * (tanh(g) - c)"),
              "cifg");
}

TEST(RecognitionAlgebraTest, TanhAsSigmoidsAndExponentials) {
  ExpectFuses(Change(kRnn, "next h = tanh(a)", "next h = 2 * sigmoid(2 * a) - 1"), "rnn_tanh");
  ExpectFuses(Change(kRnn, "next h = tanh(a)",
                     "next h = (exp(a) - exp(-a)) / (exp(a) + exp(-a))"),
              "rnn_tanh");
  ExpectFuses(Change(kRnn, "next h = tanh(a)", "next h = 1 - 2 / (exp(2 * a) + 1)"), "rnn_tanh");
}

TEST(RecognitionAlgebraTest, SigmoidAsExponentials) {
  std::string lstm = Change(kLstm, "i = sigmoid(x @ Wi + h @ Ui + bi)",
                            "i = 1 / (1 + exp(-(x @ Wi + h @ Ui + bi)))");
  lstm = Change(lstm, "o = sigmoid(x @ Wo + h @ Uo + bo)",
                "o = exp(x @ Wo + h @ Uo + bo) / (exp(x @ Wo + h @ Uo + bo) + 1)");
  ExpectFuses(lstm, "lstm");
  ExpectFuses(Change(kLstm, "f = sigmoid(x @ Wf + h @ Uf + bf)",
                     "f = 1 - 1 / (1 + exp(x @ Wf + h @ Uf + bf))"),
              "lstm");
}

TEST(RecognitionAlgebraTest, TheNewCellWrittenOutAgainIsThePeephole) {
  const std::string text = Change(
      Change(kLstm, "o = sigmoid(x @ Wo + h @ Uo + bo)",
             "o = sigmoid(x @ Wo + h @ Uo + bo + po * (f * c + i * g))"),
      "next h = o * tanh(c2)", "next h = o * tanh(i * g + c * f)");
  ExpectFuses(Change(Change(text, "+ bi)", "+ bi + pi * c)"), "+ bf)", "+ bf + pf * c)"),
              "peephole");
}

// A number over a value of the input alone: the @hoisted division reads a constant,
// which the op-by-op sequence runs before the loop too (it read an unset value once).
TEST(RecognitionAlgebraTest, AConstantReadBeforeTheLoopRuns) {
  ExpectRefused(Change(kRnn, "next h = tanh(a)", "next h = 1 / (1 + exp(x @ W))"), "rnn_tanh",
                "h' uses Sigmoid, rnn_tanh needs Tanh");
  ExpectRefused(Change(kRnn, "next h = tanh(a)", "next h = 1 / (x @ W) + h @ U"), "rnn_tanh",
                "h' uses a sum of 2 terms");
}

TEST(RecognitionAlgebraTest, NearMissesStayCustomAndNameTheTerm) {
  ExpectRefused(Change(kLstm, "c2 = f * c + i * g", "c2 = f * c + i * g + 0.5 * c"), "lstm",
                "c' = f * c + i * g has the extra term 0.5·c");
  ExpectRefused(Change(kGru, "next h = (1 - z) * n + z * h", "next h = (1 - z) * n + z * h + 0.5 * h"),
                "gru", "h' = (1 - z) * n + z * h has the extra term 0.5·h");
  ExpectRefused(Change(kGru, "next h = (1 - z) * n + z * h", "next h = n - z * z * n + z * h"),
                "gru", "h' is not (1 - z) * n + z * h: against it, h' has the extra terms");
  ExpectRefused(Change(kCifg, "c2 = (1 - i) * c + i * tanh(g)", "c2 = c - 0.5 * i * c + i * tanh(g)"),
                "cifg", "forget gate f (the factor of c in c') uses a sum of 2 terms");
  ExpectRefused(Change(kGru, "(r * h) @ Un", "h @ Un"), "gru",
                "candidate n reads h @ U without the reset gate");
  ExpectRefused(Change(kLstm, "next h = o * tanh(c2)", "next h = c2"), "lstm",
                "h' does not multiply an activation of the new cell c'");
  ExpectRefused(Change(kRnn, "next h = tanh(a)", "next h = 3 * sigmoid(2 * a) - 1"), "rnn_tanh",
                "h' uses a sum of 2 terms");
  // A scaled argument is not a near miss: 2 sigmoid(3 a) - 1 is tanh(1.5 a), the
  // RNN of 1.5 times the weights.
  ExpectFuses(Change(kRnn, "next h = tanh(a)", "next h = 2 * sigmoid(3 * a) - 1"), "rnn_tanh");
}

}  // namespace
}  // namespace gatefuse
