// Shared by the recognition tests: a .cell text compiled with the standard passes
// (f64, I=3, H=4), and the checks that it fuses to a kind and computes what its
// own unfused equations compute, or stays custom with a reason.
#ifndef GATEFUSE_TESTS_RECOGNITION_TESTING_H_
#define GATEFUSE_TESTS_RECOGNITION_TESTING_H_

#include <string>

#include "graph/graph.h"

namespace gatefuse::testing_recognition {

struct Compiled {
  Graph source;    // as compiled from the text
  Graph compiled;  // after the standard passes
  std::string fusion;
};

// Adds a test failure (and returns what it has) if the text does not compile.
Compiled Compile(const std::string& text, bool recognize = true);

// Fuses to `kind`, and the fused graph matches the source (values and every
// gradient, f64, 1e-10 relative).
void ExpectFuses(const std::string& text, const std::string& kind);

// Stays custom, computes the same, and the explanation for `kind` contains `why`.
void ExpectRefused(const std::string& text, const std::string& kind, const std::string& why);

// The near-miss templates: a per-gate LSTM (peephole parameters declared, unused)
// and a GRU (bhn declared, unused).
extern const char kLstm[];
extern const char kGru[];

// `text` with every `from` replaced by `to`; a failure if `from` is not there.
std::string Change(const std::string& text, const std::string& from, const std::string& to);

}  // namespace gatefuse::testing_recognition

#endif  // GATEFUSE_TESTS_RECOGNITION_TESTING_H_
