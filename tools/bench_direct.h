// The ceiling rows of `gatefuse bench`: oneDNN driven by hand, with nothing of
// gatefuse in between (no tape, no tensors, no packing per call).
//
//   DirectRnn: one oneDNN RNN primitive for a whole sequence, its memories and
//   weights set up once; Run() is one forward (and one backward when training).
//   DirectGemms: a list of matmuls (e.g. those a compiled custom cell runs), each
//   a cached oneDNN matmul on buffers allocated once; Run() runs them all.
#ifndef GATEFUSE_TOOLS_BENCH_DIRECT_H_
#define GATEFUSE_TOOLS_BENCH_DIRECT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/onednn_rnn.h"

namespace gatefuse::cli {

class DirectRnn {
 public:
  static absl::StatusOr<std::unique_ptr<DirectRnn>> Create(const onednn::RnnDims& dims,
                                                           bool training);
  absl::Status Run();
  // Multiply-adds of the cell's matmuls times two, per Run().
  double Flops() const;

 private:
  struct Impl;
  explicit DirectRnn(std::unique_ptr<Impl> impl);

 public:
  ~DirectRnn();

 private:
  std::unique_ptr<Impl> impl_;
};

struct GemmSpec {
  std::string what;
  int64_t m, k, n;
  int64_t count;  // how many times it runs
};

class DirectGemms {
 public:
  static absl::StatusOr<std::unique_ptr<DirectGemms>> Create(std::vector<GemmSpec> gemms);
  absl::Status Run();
  double Flops() const;
  ~DirectGemms();

 private:
  struct Buffers;
  std::vector<GemmSpec> gemms_;
  std::vector<std::unique_ptr<Buffers>> buffers_;
};

}  // namespace gatefuse::cli

#endif  // GATEFUSE_TOOLS_BENCH_DIRECT_H_
