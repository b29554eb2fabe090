// One loaded Network run from many threads at once, with no lock around it, as an
// ONNX Runtime session can be: every thread's outputs must be exactly the outputs
// of the same inputs run alone. Three models cover the paths that compute: two
// PyTorch exports whose LSTM/GRU nodes fuse (one oneDNN RNN primitive per
// direction, packed weights shared through the plan's cache) and a one-node LSTM
// whose activations make it no recognised cell, so it runs the compiled plan
// (shared matmul primitives, the per-call operand arrays and arenas).
//
// oneDNN computes the same bits for the same input, shape and thread count, so the
// comparison is exact (memcmp); a concurrent call that read another call's
// buffers or packed weights would not.
//
// Under ThreadSanitizer: bazel test --config=tsan //models/onnx:network_threads_test
// (.bazelrc: OpenMP is kept single-threaded there, since libgomp is not instrumented).
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/compare.h"
#include "gtest/gtest.h"
#include "models/onnx/network.h"
#include "models/onnx/onnx_import.h"
#include "onnx/onnx_pb.h"

namespace gatefuse {
namespace {

constexpr int kThreads = 8;
constexpr int kRunsPerThread = 200;
constexpr int64_t kT = 7;

using Values = std::map<std::string, Tensor>;

// Input set k: x [T, B, I] with B = 1 + k % 5 (every batch size 1..5 appears).
Values MakeInputs(const Network& net, int64_t input_size, int k) {
  const int64_t B = 1 + k % 5;
  Values in;
  in[net.input_names().at(0)] =
      Tensor::Uniform({kT, B, input_size}, DType::kF32, /*seed=*/1000 + k, -1.0, 1.0);
  return in;
}

bool SameBits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.Contiguous(), cb = b.Contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.num_elements() * SizeOf(ca.dtype())) == 0;
}

// A single-threaded reference per input set, then kThreads threads each running its
// own input set kRunsPerThread times, every output compared with the reference.
void StressNetwork(const Network& net, int64_t input_size) {
  std::vector<Values> inputs, reference;
  for (int k = 0; k < kThreads; ++k) {
    inputs.push_back(MakeInputs(net, input_size, k));
    absl::StatusOr<Values> out = net.Run(inputs.back());
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), net.output_names().size());
    reference.push_back(*out);
  }
  // The reference is reproducible alone (so an exact comparison is fair).
  for (int k = 0; k < kThreads; ++k) {
    absl::StatusOr<Values> again = net.Run(inputs[k]);
    ASSERT_TRUE(again.ok()) << again.status();
    for (const auto& [name, t] : reference[k]) {
      ASSERT_TRUE(SameBits(again->at(name), t)) << name << " of input set " << k;
    }
  }

  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::string> first_problem(kThreads);
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      for (int run = 0; run < kRunsPerThread; ++run) {
        absl::StatusOr<Values> out = net.Run(inputs[k]);
        if (!out.ok()) {
          errors.fetch_add(1);
          if (first_problem[k].empty()) first_problem[k] = std::string(out.status().message());
          continue;
        }
        for (const auto& [name, want] : reference[k]) {
          auto it = out->find(name);
          if (it != out->end() && SameBits(it->second, want)) continue;
          mismatches.fetch_add(1);
          if (first_problem[k].empty()) {
            first_problem[k] =
                it == out->end()
                    ? "output " + name + " missing"
                    : "output " + name + " run " + std::to_string(run) + ": " +
                          CompareTensors(it->second, want).Describe(want.shape());
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int k = 0; k < kThreads; ++k) {
    EXPECT_TRUE(first_problem[k].empty()) << "thread " << k << ": " << first_problem[k];
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

// Every line of net.PathLines() names `path` ("fused", "compiled").
void ExpectPaths(const Network& net, const std::string& path, size_t lines) {
  const std::vector<std::string> paths = net.PathLines();
  EXPECT_EQ(paths.size(), lines);
  for (const std::string& line : paths) {
    EXPECT_EQ(line.rfind("path: " + path, 0), 0u) << line;
  }
}

TEST(NetworkThreadsTest, FusedBidirectionalTwoLayerLstm) {
  absl::StatusOr<Network> net =
      LoadNetwork("tests/data/onnx/torch/lstm_2layer_bidirectional/model.onnx");
  ASSERT_TRUE(net.ok()) << net.status();
  ExpectPaths(*net, "fused lstm", 4);  // 2 layers x 2 directions
  StressNetwork(*net, /*input_size=*/4);
}

TEST(NetworkThreadsTest, FusedBidirectionalGruIntoLstm) {
  absl::StatusOr<Network> net = LoadNetwork("tests/data/onnx/torch/bigru_lstm/model.onnx");
  ASSERT_TRUE(net.ok()) << net.status();
  ExpectPaths(*net, "fused", 3);  // the GRU's 2 directions, the LSTM's 1
  StressNetwork(*net, /*input_size=*/4);
}

// One ONNX LSTM node (opset 14) with random initializers W [1, 4H, I], R [1, 4H, H],
// B [1, 8H] and activations Tanh, Tanh, Tanh: tanh gates are no recognised cell.
std::string CompiledLstmModel(int64_t I, int64_t H) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("network_threads_test");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(14);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("tanh_lstm");
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto initializer = [&](const std::string& name, std::vector<int64_t> dims) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) t->add_float_data(u(gen));
  };
  initializer("W", {1, 4 * H, I});
  initializer("R", {1, 4 * H, H});
  initializer("B", {1, 8 * H});
  auto value = [](onnx::ValueInfoProto* v, const std::string& name,
                  const std::vector<std::string>& symbolic, const std::vector<int64_t>& fixed) {
    v->set_name(name);
    onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto* shape = t->mutable_shape();
    for (size_t k = 0; k < symbolic.size(); ++k) {
      onnx::TensorShapeProto_Dimension* d = shape->add_dim();
      if (symbolic[k].empty()) {
        d->set_dim_value(fixed[k]);
      } else {
        d->set_dim_param(symbolic[k]);
      }
    }
  };
  value(g->add_input(), "X", {"T", "B", ""}, {0, 0, I});
  value(g->add_output(), "Y", {"T", "", "B", ""}, {0, 1, 0, H});
  value(g->add_output(), "Y_h", {"", "B", ""}, {1, 0, H});
  value(g->add_output(), "Y_c", {"", "B", ""}, {1, 0, H});
  onnx::NodeProto* node = g->add_node();
  node->set_op_type("LSTM");
  node->set_name("lstm");
  for (const char* in : {"X", "W", "R", "B"}) node->add_input(in);
  for (const char* out : {"Y", "Y_h", "Y_c"}) node->add_output(out);
  onnx::AttributeProto* hidden = node->add_attribute();
  hidden->set_name("hidden_size");
  hidden->set_type(onnx::AttributeProto::INT);
  hidden->set_i(H);
  onnx::AttributeProto* act = node->add_attribute();
  act->set_name("activations");
  act->set_type(onnx::AttributeProto::STRINGS);
  for (int k = 0; k < 3; ++k) act->add_strings("Tanh");
  return model.SerializeAsString();
}

TEST(NetworkThreadsTest, CompiledTanhLstm) {
  constexpr int64_t I = 4, H = 8;
  absl::StatusOr<ModelFile> file = ImportOnnxBytes(CompiledLstmModel(I, H), "tanh_lstm");
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<Network> net = Network::FromModelFile(*file);
  ASSERT_TRUE(net.ok()) << net.status();
  ExpectPaths(*net, "compiled", 1);
  StressNetwork(*net, I);
}

}  // namespace
}  // namespace gatefuse
