// onnx_cases: the ONNX LSTM / GRU / RNN test cases gatefuse's ONNX importer is checked with
// against ONNX Runtime (tools/onnx_ort_check.sh). Each case is one folder in the ONNX backend
// test layout:
//
//   DIR/<case>/model.onnx                     one LSTM, GRU or RNN node, built with the
//                                             onnx::ModelProto classes, passed through
//                                             onnx::checker::check_model and strict shape
//                                             inference before it is written
//   DIR/<case>/test_data_set_0/input_N.pb     TensorProto named after the N-th graph input
//                                             that is not an initializer (graph input order)
//   DIR/<case>/test_data_set_0/output_N.pb    written later: by tools/ort_run.js (ONNX
//                                             Runtime), or by --transpose-twin-outputs
//
// ONNX Runtime refuses layout=1, so every layout=1 case <case> comes with a layout-0 twin
// <case>.layout0_twin (same weights, X / initial_h / initial_c transposed) and a file
// <case>/twin holding the twin's folder name; once ONNX Runtime has written the twin's outputs,
// `--transpose-twin-outputs DIR/<case>` transposes them into the layout=1 case's outputs.
//
//   onnx_cases --out DIR [--seed S]              write every case (DIR: missing or empty)
//   onnx_cases --transpose-twin-outputs DIR/CASE derive a layout=1 case's expected outputs
//   onnx_cases --list                            print the case names, one a line
//
// Weights are uniform in [-0.5, 0.5], X in [-1, 1], initial states in [-0.5, 0.5], from a
// std::mt19937_64 (its output sequence is fixed by the C++ standard, so the cases are the same
// everywhere) seeded with S xor a hash of the case's name: a case does not change when other
// cases are added. Sizes T=5, B=3, I=4, H=6 (all different, so a transposed axis cannot go
// unnoticed) unless a case says otherwise.
//
// Depends only on //core (file reads and atomic writes) and the system's libonnx; it never
// compiles onnx.proto itself.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/file_io.h"
#include "core/hash.h"
#include "core/status.h"
#include "models/onnx/onnx_attributes.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"

namespace gatefuse {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kDefaultSeed = 20240607;
constexpr char kTwinSuffix[] = ".layout0_twin";

// The eleven activation functions of the ONNX RNN operators' spec.
const std::vector<std::string>& SpecActivations() {
  static const auto* names = new std::vector<std::string>{
      "Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu",
      "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus"};
  return *names;
}

enum class Op { kLstm, kGru, kRnn };

const char* OpType(Op op) {
  switch (op) {
    case Op::kLstm: return "LSTM";
    case Op::kGru: return "GRU";
    case Op::kRnn: return "RNN";
  }
  return "?";
}

int Gates(Op op) { return op == Op::kLstm ? 4 : op == Op::kGru ? 3 : 1; }

// One case. Optional inputs and attributes are left out unless set.
struct CaseSpec {
  std::string name;
  Op op = Op::kLstm;
  int opset = 14;
  std::string direction;  // "" leaves the attribute out (default forward)
  int64_t T = 5, B = 3, I = 4, H = 6;
  bool bias = true;
  std::vector<int32_t> seq_lens;  // empty: input left out
  bool initial_h = false;
  bool initial_c = false;  // LSTM only
  bool peephole = false;   // LSTM only
  int64_t input_forget = -1;         // LSTM; -1 leaves the attribute out
  int64_t linear_before_reset = -1;  // GRU; -1 leaves the attribute out
  int64_t layout = -1;               // opset 14; -1 leaves the attribute out
  std::optional<float> clip;
  std::vector<std::string> activations;  // attribute left out when empty
  std::vector<float> alpha, beta;        // attributes left out when empty
  std::string fill_activation;  // sets `activations` to this, once per direction
  bool want_y = true, want_y_h = true, want_y_c = true;  // Y_c: LSTM only
  bool weights_as_inputs = false;  // W, R, B, P graph inputs fed by the test data
  bool f64 = false;                // tensor(double) instead of tensor(float)
  bool typed_fields = false;       // float_data / double_data / int32_data, not raw_data
  bool symbolic_dims = false;      // graph inputs and outputs with dim_param T and B
};

int Directions(const CaseSpec& c) { return c.direction == "bidirectional" ? 2 : 1; }

// ---- the case list ---------------------------------------------------------------------------

// The base spec of one cell kind (its name is the case name's prefix).
CaseSpec Kind(const std::string& kind) {
  CaseSpec c;
  c.name = kind;
  if (kind == "lstm") {
    c.op = Op::kLstm;
  } else if (kind == "lstm_peephole") {
    c.op = Op::kLstm;
    c.peephole = true;
  } else if (kind == "lstm_cifg") {
    c.op = Op::kLstm;
    c.input_forget = 1;
  } else if (kind == "lstm_cifg_peephole") {
    c.op = Op::kLstm;
    c.input_forget = 1;
    c.peephole = true;
  } else if (kind == "gru") {
    c.op = Op::kGru;
    c.linear_before_reset = 0;
  } else if (kind == "gru_lbr") {
    c.op = Op::kGru;
    c.linear_before_reset = 1;
  } else if (kind == "rnn_tanh") {
    c.op = Op::kRnn;  // activations left out: the default Tanh
  } else if (kind == "rnn_relu") {
    c.op = Op::kRnn;
    c.fill_activation = "Relu";
  } else {
    std::fprintf(stderr, "onnx_cases: internal error: unknown kind %s\n", kind.c_str());
    std::abort();
  }
  return c;
}

const std::vector<std::string>& KindNames() {
  static const auto* kinds = new std::vector<std::string>{
      "lstm", "lstm_peephole", "lstm_cifg", "lstm_cifg_peephole",
      "gru", "gru_lbr", "rnn_tanh", "rnn_relu"};
  return *kinds;
}

// A kind's spec in one direction with every optional input its kind has.
CaseSpec Full(const std::string& kind, const std::string& direction, const std::string& suffix) {
  CaseSpec c = Kind(kind);
  c.name = absl::StrCat(kind, "_", direction, suffix);
  c.direction = direction;
  c.initial_h = true;
  c.initial_c = c.op == Op::kLstm;
  return c;
}

std::vector<CaseSpec> AllCases() {
  std::vector<CaseSpec> cases;
  const std::vector<std::string> directions = {"forward", "reverse", "bidirectional"};

  // Every kind in every direction, all inputs given; then with sequence_lens [T, 1, 3].
  for (const std::string& kind : KindNames()) {
    for (const std::string& d : directions) cases.push_back(Full(kind, d, ""));
  }
  for (const std::string& kind : KindNames()) {
    for (const std::string& d : directions) {
      CaseSpec c = Full(kind, d, "_seqlens");
      c.seq_lens = {5, 1, 3};
      cases.push_back(c);
    }
  }
  // Lengths all shorter than T (Y past the longest is zero in ORT), and six unsorted lengths.
  for (const char* kind : {"lstm_peephole", "gru_lbr", "rnn_tanh"}) {
    CaseSpec c = Full(kind, "bidirectional", "_seqlens_short");
    c.seq_lens = {3, 1, 2};
    cases.push_back(c);
    c = Full(kind, "bidirectional", "_seqlens_b6");
    c.B = 6;
    c.seq_lens = {3, 5, 1, 4, 2, 5};
    cases.push_back(c);
  }

  // Only X, W, R (no B, no initial state; direction, linear_before_reset and activations left
  // out where the kind allows).
  for (const char* kind : {"lstm", "lstm_cifg", "gru", "gru_lbr", "rnn_tanh", "rnn_relu"}) {
    CaseSpec c = Kind(kind);
    c.name = absl::StrCat(kind, "_defaults");
    c.bias = false;
    if (std::string(kind) == "gru") c.linear_before_reset = -1;
    if (std::string(kind) == "rnn_relu") c.direction = "forward";  // fill needs a direction
    cases.push_back(c);
  }
  for (const char* kind : {"lstm", "gru", "rnn_tanh"}) {
    CaseSpec c = Kind(kind);
    c.name = absl::StrCat(kind, "_bidirectional_defaults");
    c.direction = "bidirectional";
    c.bias = false;
    cases.push_back(c);
  }

  // Initial states given in part (holes in the input list).
  {
    CaseSpec c = Full("lstm", "forward", "_initial_h_only");
    c.initial_c = false;
    cases.push_back(c);
    c = Full("lstm", "bidirectional", "_initial_c_only");
    c.initial_h = false;  // ["X","W","R","B","","","initial_c"]
    cases.push_back(c);
    c = Full("lstm_peephole", "reverse", "_no_initial");
    c.initial_h = c.initial_c = false;  // ["X","W","R","B","","","","P"]
    cases.push_back(c);
  }

  // clip (0.35: a good share of the gate pre-activations is clipped).
  for (const std::string& kind : KindNames()) {
    CaseSpec c = Full(kind, "forward", "_clip");
    c.clip = 0.35f;
    cases.push_back(c);
  }
  for (const char* kind : {"lstm_peephole", "gru_lbr", "rnn_relu"}) {
    CaseSpec c = Full(kind, "bidirectional", "_seqlens_clip");
    c.clip = 0.35f;
    c.seq_lens = {5, 1, 3};
    cases.push_back(c);
  }

  // Activations. alpha and beta are consumed in the order of the activations, each list only
  // by the functions that take that parameter (Affine, ScaledTanh, HardSigmoid: alpha and beta;
  // LeakyRelu, ThresholdedRelu, Elu: alpha) -- as ONNX Runtime 1.30 reads them for all three
  // ops. A parameter left out takes the default of the ONNX operator of the same name only for
  // LeakyRelu (0.01), HardSigmoid (0.2, 0.5) and Elu (1.0): ORT uses 0 for ThresholdedRelu's
  // alpha (the operator's default is 1.0), Affine's (1.0) and ScaledTanh's, so no case leaves
  // those out.
  {
    CaseSpec c = Full("lstm", "forward", "_act_hardsigmoid_leakyrelu_softsign");
    c.activations = {"HardSigmoid", "LeakyRelu", "Softsign"};
    c.alpha = {0.3f, 0.05f};
    c.beta = {0.6f};
    cases.push_back(c);

    c = Full("lstm_peephole", "bidirectional", "_seqlens_act_mixed");
    c.seq_lens = {5, 1, 3};
    c.activations = {"Sigmoid", "ScaledTanh", "Softplus", "HardSigmoid", "Elu", "ThresholdedRelu"};
    c.alpha = {1.3f, 0.25f, 0.8f, 0.15f};
    c.beta = {0.7f, 0.45f};
    cases.push_back(c);

    c = Full("lstm", "reverse", "_act_affine_relu_tanh");
    c.activations = {"Affine", "Relu", "Tanh"};
    c.alpha = {0.5f};
    c.beta = {0.5f};
    cases.push_back(c);

    // No alpha / beta: the defaults of the ONNX operators of the same name (HardSigmoid 0.2 and
    // 0.5, Elu 1.0, LeakyRelu 0.01), which ORT's LSTM and GRU use too.
    c = Full("lstm", "forward", "_act_default_params");
    c.activations = {"HardSigmoid", "Elu", "LeakyRelu"};
    cases.push_back(c);

    c = Full("lstm_cifg_peephole", "bidirectional", "_act_mixed");
    c.activations = {"HardSigmoid", "Tanh", "Softsign", "Sigmoid", "Softplus", "ScaledTanh"};
    c.alpha = {0.2f, 0.9f};
    c.beta = {0.5f, 1.1f};
    cases.push_back(c);

    c = Full("gru_lbr", "bidirectional", "_act_mixed");
    c.activations = {"HardSigmoid", "Affine", "Sigmoid", "Relu"};
    c.alpha = {0.3f, 0.9f};
    c.beta = {0.55f, 0.1f};
    cases.push_back(c);

    c = Full("gru", "reverse", "_act_softsign_elu");
    c.activations = {"Softsign", "Elu"};
    c.alpha = {0.7f};
    cases.push_back(c);

    c = Full("gru", "bidirectional", "_seqlens_act_mixed");
    c.seq_lens = {5, 1, 3};
    c.activations = {"Sigmoid", "ThresholdedRelu", "HardSigmoid", "LeakyRelu"};
    c.alpha = {0.1f, 0.25f, 0.2f};
    c.beta = {0.45f};
    cases.push_back(c);

    c = Full("gru_lbr", "forward", "_act_default_params");
    c.activations = {"HardSigmoid", "LeakyRelu"};
    cases.push_back(c);

    // RNN: each of the eleven on its own, with explicit parameters.
    const std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> params = {
        {"Affine", {{0.7f}, {0.2f}}},       {"LeakyRelu", {{0.15f}, {}}},
        {"ThresholdedRelu", {{0.25f}, {}}}, {"ScaledTanh", {{1.5f}, {0.6f}}},
        {"HardSigmoid", {{0.35f}, {0.45f}}}, {"Elu", {{0.9f}, {}}}};
    for (const std::string& act : SpecActivations()) {
      std::string lower = act;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      CaseSpec r = Full("rnn_tanh", "forward", "");
      r.name = absl::StrCat("rnn_forward_act_", lower);
      r.activations = {act};
      auto it = params.find(act);
      if (it != params.end()) {
        r.alpha = it->second.first;
        r.beta = it->second.second;
      }
      cases.push_back(r);
    }
    // Bidirectional RNNs, and the parameters' consumption order and defaults in RNN.
    c = Full("rnn_tanh", "bidirectional", "_seqlens_act_affine_scaledtanh");
    c.name = "rnn_bidirectional_seqlens_act_affine_scaledtanh";
    c.seq_lens = {5, 1, 3};
    c.activations = {"Affine", "ScaledTanh"};
    c.alpha = {0.7f, 1.2f};
    c.beta = {0.1f, 0.8f};
    cases.push_back(c);
    c = Full("rnn_tanh", "bidirectional", "");
    c.name = "rnn_bidirectional_act_leakyrelu_elu";
    c.activations = {"LeakyRelu", "Elu"};
    c.alpha = {0.2f, 0.6f};
    cases.push_back(c);
    c = Full("rnn_tanh", "bidirectional", "");
    c.name = "rnn_bidirectional_act_sigmoid_softsign";
    c.activations = {"Sigmoid", "Softsign"};
    cases.push_back(c);
    c = Full("rnn_tanh", "bidirectional", "");
    c.name = "rnn_bidirectional_act_tanh_leakyrelu";  // alpha [0.3]: LeakyRelu's, not Tanh's
    c.activations = {"Tanh", "LeakyRelu"};
    c.alpha = {0.3f};
    cases.push_back(c);
    c = Full("rnn_tanh", "forward", "");
    c.name = "rnn_forward_act_leakyrelu_default_alpha";  // 0.01
    c.activations = {"LeakyRelu"};
    cases.push_back(c);
  }

  // Optional inputs left out with a hole in the input list.
  {
    CaseSpec c = Kind("lstm");
    c.name = "lstm_forward_no_bias_seqlens";  // ["X","W","R","","sequence_lens"]
    c.direction = "forward";
    c.bias = false;
    c.seq_lens = {5, 1, 3};
    cases.push_back(c);
    c = Kind("gru_lbr");
    c.name = "gru_lbr_reverse_no_bias_initial_h";  // ["X","W","R","","","initial_h"]
    c.direction = "reverse";
    c.bias = false;
    c.initial_h = true;
    cases.push_back(c);
    c = Kind("rnn_tanh");
    c.name = "rnn_tanh_bidirectional_no_bias_seqlens_initial_h";
    c.direction = "bidirectional";
    c.bias = false;
    c.seq_lens = {5, 1, 3};
    c.initial_h = true;
    cases.push_back(c);
  }

  // Optional outputs left out.
  {
    CaseSpec c = Full("lstm", "forward", "_only_y_h");  // ["", "Y_h"]
    c.want_y = c.want_y_c = false;
    cases.push_back(c);
    c = Full("lstm_peephole", "bidirectional", "_seqlens_only_y_c");  // ["", "", "Y_c"]
    c.seq_lens = {5, 1, 3};
    c.want_y = c.want_y_h = false;
    cases.push_back(c);
    c = Full("lstm", "reverse", "_seqlens_y_and_y_c");  // ["Y", "", "Y_c"]
    c.seq_lens = {5, 1, 3};
    c.want_y_h = false;
    cases.push_back(c);
    c = Full("lstm_cifg", "forward", "_only_y");  // ["Y"]
    c.want_y_h = c.want_y_c = false;
    cases.push_back(c);
    c = Full("gru", "bidirectional", "_seqlens_only_y_h");
    c.seq_lens = {5, 1, 3};
    c.want_y = false;
    cases.push_back(c);
    c = Full("gru_lbr", "forward", "_only_y");
    c.want_y_h = false;
    cases.push_back(c);
    c = Full("rnn_relu", "reverse", "_seqlens_only_y_h");
    c.seq_lens = {5, 1, 3};
    c.want_y = false;
    cases.push_back(c);
  }

  // layout = 1 (each written with a layout-0 twin).
  {
    CaseSpec c = Full("lstm_peephole", "bidirectional", "_seqlens_layout1");
    c.seq_lens = {5, 1, 3};
    c.layout = 1;
    cases.push_back(c);
    c = Kind("lstm");
    c.name = "lstm_forward_layout1_only_y_h";
    c.direction = "forward";
    c.layout = 1;
    c.want_y = c.want_y_c = false;
    cases.push_back(c);
    c = Full("gru_lbr", "reverse", "_layout1");
    c.layout = 1;
    cases.push_back(c);
    c = Full("gru", "bidirectional", "_seqlens_layout1");
    c.seq_lens = {5, 1, 3};
    c.layout = 1;
    cases.push_back(c);
    c = Full("rnn_relu", "bidirectional", "_seqlens_layout1");
    c.seq_lens = {5, 1, 3};
    c.layout = 1;
    cases.push_back(c);
    c = Full("rnn_tanh", "forward", "_layout1");
    c.layout = 1;
    cases.push_back(c);
  }

  // Opset 7 (IR version 3: the initializers are graph inputs too).
  {
    CaseSpec c = Full("lstm_peephole", "bidirectional", "_seqlens_opset7");
    c.opset = 7;
    c.seq_lens = {5, 1, 3};
    cases.push_back(c);
    c = Full("lstm_cifg", "reverse", "_opset7");
    c.opset = 7;
    cases.push_back(c);
    c = Full("gru", "forward", "_opset7");
    c.opset = 7;
    cases.push_back(c);
    c = Full("gru_lbr", "bidirectional", "_seqlens_clip_opset7");
    c.opset = 7;
    c.seq_lens = {5, 1, 3};
    c.clip = 0.35f;
    cases.push_back(c);
    c = Full("rnn_relu", "bidirectional", "_seqlens_opset7");
    c.opset = 7;
    c.seq_lens = {5, 1, 3};
    cases.push_back(c);
    c = Full("rnn_tanh", "reverse", "_act_hardsigmoid_opset7");
    c.opset = 7;
    c.activations = {"HardSigmoid"};
    c.alpha = {0.35f};
    c.beta = {0.45f};
    cases.push_back(c);
  }

  // Weights fed as graph inputs (as in ONNX's own backend tests), typed fields instead of
  // raw_data, symbolic dimensions, odd sizes.
  {
    CaseSpec c = Full("lstm_peephole", "bidirectional", "_seqlens_weights_as_inputs");
    c.seq_lens = {5, 1, 3};
    c.weights_as_inputs = true;
    cases.push_back(c);
    c = Full("gru_lbr", "forward", "_weights_as_inputs");
    c.weights_as_inputs = true;
    cases.push_back(c);
    c = Full("rnn_tanh", "reverse", "_weights_as_inputs");
    c.weights_as_inputs = true;
    cases.push_back(c);

    c = Full("lstm_peephole", "bidirectional", "_seqlens_typed_fields");
    c.seq_lens = {5, 1, 3};
    c.typed_fields = true;
    cases.push_back(c);
    c = Full("gru", "reverse", "_seqlens_typed_fields_weights_as_inputs");
    c.seq_lens = {5, 1, 3};
    c.typed_fields = true;
    c.weights_as_inputs = true;
    cases.push_back(c);

    c = Full("lstm", "bidirectional", "_seqlens_symbolic_dims");
    c.seq_lens = {5, 1, 3};
    c.symbolic_dims = true;
    cases.push_back(c);

    // No tensor(double) case: ORT 1.30 has no double RNN kernel, and its LSTM and GRU kernels
    // fail at run time with "... operator does not support double yet" (CaseSpec::f64 stays).

    c = Full("lstm", "bidirectional", "_t1_b1");
    c.T = 1;
    c.B = 1;
    cases.push_back(c);
    c = Full("gru", "forward", "_i1_h1");
    c.I = 1;
    c.H = 1;
    cases.push_back(c);
    c = Full("rnn_tanh", "bidirectional", "_seqlens_t7_b4_i5_h8");
    c.T = 7;
    c.B = 4;
    c.I = 5;
    c.H = 8;
    c.seq_lens = {7, 1, 4, 6};
    cases.push_back(c);
  }

  for (CaseSpec& c : cases) {
    if (!c.fill_activation.empty() && c.activations.empty()) {
      c.activations.assign(Directions(c), c.fill_activation);
    }
  }
  return cases;
}

// ---- tensors ---------------------------------------------------------------------------------

// Values are kept as doubles; a float tensor's values are rounded to float when generated, so
// writing them as float loses nothing.
struct Array {
  std::vector<int64_t> dims;
  std::vector<double> values;
};

int64_t NumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [lo, hi): 53 random bits, independent of the standard library's distributions
  // (whose algorithms are implementation-defined).
  double Uniform(double lo, double hi) {
    const double u = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    return lo + (hi - lo) * u;
  }

 private:
  std::mt19937_64 engine_;
};

Array RandomArray(Rng& rng, std::vector<int64_t> dims, double lo, double hi, bool f64) {
  Array a;
  a.dims = std::move(dims);
  a.values.resize(NumElements(a.dims));
  for (double& v : a.values) {
    v = rng.Uniform(lo, hi);
    if (!f64) v = static_cast<float>(v);
  }
  return a;
}

// out[i0, i1, ...] = in[...] with out.dims[k] = in.dims[perm[k]].
Array Permute(const Array& in, const std::vector<int>& perm) {
  const size_t rank = in.dims.size();
  Array out;
  out.dims.resize(rank);
  for (size_t k = 0; k < rank; ++k) out.dims[k] = in.dims[perm[k]];
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t k = rank; k-- > 1;) in_strides[k - 1] = in_strides[k] * in.dims[k];
  out.values.resize(in.values.size());
  std::vector<int64_t> index(rank, 0);  // index into out
  for (size_t n = 0; n < out.values.size(); ++n) {
    int64_t offset = 0;
    for (size_t k = 0; k < rank; ++k) offset += index[k] * in_strides[perm[k]];
    out.values[n] = in.values[offset];
    for (size_t k = rank; k-- > 0;) {
      if (++index[k] < out.dims[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

void AppendLittleEndian(uint64_t bits, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

uint64_t ReadLittleEndian(const char* p, int bytes) {
  uint64_t bits = 0;
  for (int i = 0; i < bytes; ++i) bits |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return bits;
}

onnx::TensorProto EncodeReal(const std::string& name, const Array& a, bool f64, bool typed) {
  onnx::TensorProto t;
  t.set_name(name);
  for (int64_t d : a.dims) t.add_dims(d);
  t.set_data_type(f64 ? onnx::TensorProto::DOUBLE : onnx::TensorProto::FLOAT);
  std::string raw;
  for (double v : a.values) {
    if (f64) {
      if (typed) {
        t.add_double_data(v);
      } else {
        uint64_t bits;
        std::memcpy(&bits, &v, 8);
        AppendLittleEndian(bits, 8, &raw);
      }
    } else {
      const float f = static_cast<float>(v);
      if (typed) {
        t.add_float_data(f);
      } else {
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        AppendLittleEndian(bits, 4, &raw);
      }
    }
  }
  if (!typed) t.set_raw_data(raw);
  return t;
}

onnx::TensorProto EncodeInt32(const std::string& name, const std::vector<int32_t>& v, bool typed) {
  onnx::TensorProto t;
  t.set_name(name);
  t.add_dims(static_cast<int64_t>(v.size()));
  t.set_data_type(onnx::TensorProto::INT32);
  std::string raw;
  for (int32_t x : v) {
    if (typed) {
      t.add_int32_data(x);
    } else {
      AppendLittleEndian(static_cast<uint32_t>(x), 4, &raw);
    }
  }
  if (!typed) t.set_raw_data(raw);
  return t;
}

// A FLOAT or DOUBLE TensorProto's values (raw_data or the typed field).
absl::StatusOr<Array> DecodeReal(const onnx::TensorProto& t, const std::string& what) {
  Array a;
  a.dims.assign(t.dims().begin(), t.dims().end());
  const int64_t n = NumElements(a.dims);
  const bool f64 = t.data_type() == onnx::TensorProto::DOUBLE;
  if (!f64 && t.data_type() != onnx::TensorProto::FLOAT) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": data_type ", t.data_type(), ", expected FLOAT (1) or DOUBLE (11)"));
  }
  const int width = f64 ? 8 : 4;
  if (t.has_raw_data()) {
    if (static_cast<int64_t>(t.raw_data().size()) != n * width) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": raw_data has ", t.raw_data().size(),
                                                     " bytes, dims need ", n * width));
    }
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t bits = ReadLittleEndian(t.raw_data().data() + i * width, width);
      if (f64) {
        double v;
        std::memcpy(&v, &bits, 8);
        a.values.push_back(v);
      } else {
        const uint32_t b32 = static_cast<uint32_t>(bits);
        float v;
        std::memcpy(&v, &b32, 4);
        a.values.push_back(v);
      }
    }
  } else if (f64) {
    a.values.assign(t.double_data().begin(), t.double_data().end());
  } else {
    a.values.assign(t.float_data().begin(), t.float_data().end());
  }
  if (static_cast<int64_t>(a.values.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", a.values.size(), " values, dims need ", n));
  }
  return a;
}

// ---- models ----------------------------------------------------------------------------------

struct Dim {
  int64_t value;
  const char* param;  // non-null: a symbolic dimension (when the case asks for them)
};

onnx::ValueInfoProto ValueInfo(const std::string& name, int elem_type, const std::vector<Dim>& dims,
                               bool symbolic) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  onnx::TypeProto_Tensor* tensor = v.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  onnx::TensorShapeProto* shape = tensor->mutable_shape();
  for (const Dim& d : dims) {
    if (symbolic && d.param != nullptr) {
      shape->add_dim()->set_dim_param(d.param);
    } else {
      shape->add_dim()->set_dim_value(d.value);
    }
  }
  return v;
}


struct BuiltCase {
  std::string name;
  onnx::ModelProto model;
  std::vector<onnx::TensorProto> inputs;  // the test data's input_N.pb, in order
};

// Builds `c` (layout as the spec says, or as its layout-0 twin).
absl::StatusOr<BuiltCase> Build(const CaseSpec& c, uint64_t seed, bool as_twin) {
  const int64_t D = Directions(c), G = Gates(c.op), T = c.T, B = c.B, I = c.I, H = c.H;
  const bool lstm = c.op == Op::kLstm;
  const bool layout1 = c.layout == 1 && !as_twin;
  const int elem = c.f64 ? onnx::TensorProto::DOUBLE : onnx::TensorProto::FLOAT;

  // The data, always drawn in this order and in layout 0, so a case and its twin share it.
  // The offset of the cases' first seeds (the standard one's digits short of one), kept
  // so that every case keeps its weights.
  Rng rng(seed ^ Fnv1a(c.name, 1469598103934665603ull));
  Array w = RandomArray(rng, {D, G * H, I}, -0.5, 0.5, c.f64);
  Array r = RandomArray(rng, {D, G * H, H}, -0.5, 0.5, c.f64);
  Array b = RandomArray(rng, {D, 2 * G * H}, -0.5, 0.5, c.f64);
  Array p = RandomArray(rng, {D, 3 * H}, -0.5, 0.5, c.f64);
  Array x = RandomArray(rng, {T, B, I}, -1.0, 1.0, c.f64);
  Array h0 = RandomArray(rng, {D, B, H}, -0.5, 0.5, c.f64);
  Array c0 = RandomArray(rng, {D, B, H}, -0.5, 0.5, c.f64);
  if (layout1) {
    x = Permute(x, {1, 0, 2});
    h0 = Permute(h0, {1, 0, 2});
    c0 = Permute(c0, {1, 0, 2});
  }
  const std::vector<Dim> x_dims = layout1
      ? std::vector<Dim>{{B, "B"}, {T, "T"}, {I, nullptr}}
      : std::vector<Dim>{{T, "T"}, {B, "B"}, {I, nullptr}};
  const std::vector<Dim> state_dims = layout1
      ? std::vector<Dim>{{B, "B"}, {D, nullptr}, {H, nullptr}}
      : std::vector<Dim>{{D, nullptr}, {B, "B"}, {H, nullptr}};
  const std::vector<Dim> y_dims = layout1
      ? std::vector<Dim>{{B, "B"}, {T, "T"}, {D, nullptr}, {H, nullptr}}
      : std::vector<Dim>{{T, "T"}, {D, nullptr}, {B, "B"}, {H, nullptr}};

  BuiltCase built;
  built.name = as_twin ? c.name + kTwinSuffix : c.name;
  onnx::ModelProto& model = built.model;
  model.set_ir_version(c.opset < 9 ? 3 : 7);
  model.set_producer_name("gatefuse-onnx_cases");
  model.set_doc_string(as_twin ? "layout-0 twin of " + c.name : "gatefuse ONNX importer case");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(c.opset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(built.name);
  onnx::NodeProto* node = graph->add_node();
  node->set_op_type(OpType(c.op));
  node->set_name(absl::AsciiStrToLower(OpType(c.op)));

  // Inputs in the operator's order; a left-out optional input is "" (trailing ones dropped).
  struct Slot {
    std::string name;
    bool present;
    bool runtime;  // fed by the test data (else an initializer)
    std::vector<Dim> dims;
    const Array* data;  // null for sequence_lens
  };
  const bool wi = c.weights_as_inputs;
  std::vector<Slot> slots = {
      {"X", true, true, x_dims, &x},
      {"W", true, wi, {{D, nullptr}, {G * H, nullptr}, {I, nullptr}}, &w},
      {"R", true, wi, {{D, nullptr}, {G * H, nullptr}, {H, nullptr}}, &r},
      {"B", c.bias, wi, {{D, nullptr}, {2 * G * H, nullptr}}, &b},
      {"sequence_lens", !c.seq_lens.empty(), true, {{B, "B"}}, nullptr},
      {"initial_h", c.initial_h, true, state_dims, &h0},
  };
  if (lstm) {
    slots.push_back({"initial_c", c.initial_c, true, state_dims, &c0});
    slots.push_back({"P", c.peephole, wi, {{D, nullptr}, {3 * H, nullptr}}, &p});
  }
  while (!slots.back().present) slots.pop_back();
  for (const Slot& s : slots) {
    node->add_input(s.present ? s.name : "");
    if (!s.present) continue;
    const bool seq = s.data == nullptr;
    const int type = seq ? onnx::TensorProto::INT32 : elem;
    onnx::TensorProto tensor = seq ? EncodeInt32(s.name, c.seq_lens, c.typed_fields)
                                   : EncodeReal(s.name, *s.data, c.f64, c.typed_fields);
    if (s.runtime || c.opset < 9) {
      *graph->add_input() = ValueInfo(s.name, type, s.dims, c.symbolic_dims);
    }
    if (s.runtime) {
      built.inputs.push_back(std::move(tensor));
    } else {
      *graph->add_initializer() = std::move(tensor);
    }
  }

  struct Out {
    std::string name;
    bool wanted;
    std::vector<Dim> dims;
  };
  std::vector<Out> outs = {{"Y", c.want_y, y_dims}, {"Y_h", c.want_y_h, state_dims}};
  if (lstm) outs.push_back({"Y_c", c.want_y_c, state_dims});
  while (!outs.empty() && !outs.back().wanted) outs.pop_back();
  if (outs.empty()) return absl::InternalError(absl::StrCat(c.name, ": no output wanted"));
  for (const Out& o : outs) {
    node->add_output(o.wanted ? o.name : "");
    if (o.wanted) *graph->add_output() = ValueInfo(o.name, elem, o.dims, c.symbolic_dims);
  }

  if (!c.activations.empty()) AddAttribute(node, "activations", c.activations);
  if (!c.alpha.empty()) AddAttribute(node, "activation_alpha", c.alpha);
  if (!c.beta.empty()) AddAttribute(node, "activation_beta", c.beta);
  if (c.clip) AddAttribute(node, "clip", *c.clip);
  if (!c.direction.empty()) AddAttribute(node, "direction", c.direction);
  AddAttribute(node, "hidden_size", H);
  if (c.input_forget >= 0) AddAttribute(node, "input_forget", c.input_forget);
  if (c.linear_before_reset >= 0) AddAttribute(node, "linear_before_reset", c.linear_before_reset);
  if (layout1) AddAttribute(node, "layout", c.layout);

  // The checker, then strict shape inference on a copy: it fails if the declared output shapes
  // disagree with what the operator's shape function derives from the inputs.
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto copy = model;
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true,
                                                                   /*strict_mode=*/1));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(built.name, ": the model fails onnx::checker::check_model / shape "
                     "inference: ", e.what()));
  }
  return built;
}

// ---- writing ---------------------------------------------------------------------------------

absl::Status MakeDirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status WriteProto(const fs::path& path, const google::protobuf::MessageLite& message) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot serialize ", path.string()));
  }
  return WriteFileAtomically(path.string(), bytes);
}

template <typename Message>
absl::StatusOr<Message> ReadProto(const fs::path& path) {
  GF_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path.string()));
  Message message;
  if (!message.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a valid ",
                                                   message.GetTypeName()));
  }
  return message;
}

absl::Status WriteCase(const fs::path& root, const BuiltCase& built) {
  const fs::path dir = root / built.name;
  GF_RETURN_IF_ERROR(MakeDirs(dir / "test_data_set_0"));
  GF_RETURN_IF_ERROR(WriteProto(dir / "model.onnx", built.model));
  for (size_t i = 0; i < built.inputs.size(); ++i) {
    GF_RETURN_IF_ERROR(WriteProto(
        dir / "test_data_set_0" / absl::StrCat("input_", i, ".pb"), built.inputs[i]));
  }
  return absl::OkStatus();
}

// Which activations appear in some case: all eleven must.
absl::Status CheckActivationCoverage(const std::vector<CaseSpec>& cases) {
  std::set<std::string> seen;
  for (const CaseSpec& c : cases) seen.insert(c.activations.begin(), c.activations.end());
  std::vector<std::string> missing;
  for (const std::string& a : SpecActivations()) {
    if (!seen.count(a)) missing.push_back(a);
  }
  if (!missing.empty()) {
    return absl::InternalError(absl::StrCat("no case uses ", absl::StrJoin(missing, ", ")));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(const std::string& out, uint64_t seed) {
  const fs::path root(out);
  std::error_code ec;
  if (fs::exists(root, ec)) {
    if (!fs::is_directory(root, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(out, ": not a folder"));
    }
    if (!fs::is_empty(root, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat(out, ": not empty (onnx_cases writes into a missing or empty folder)"));
    }
  }
  GF_RETURN_IF_ERROR(MakeDirs(root));
  const std::vector<CaseSpec> cases = AllCases();
  GF_RETURN_IF_ERROR(CheckActivationCoverage(cases));
  std::set<std::string> names;
  int counts[3] = {0, 0, 0}, twins = 0, opset7 = 0;
  for (const CaseSpec& c : cases) {
    if (!names.insert(c.name).second) {
      return absl::InternalError(absl::StrCat("two cases are named ", c.name));
    }
    GF_ASSIGN_OR_RETURN(BuiltCase built, Build(c, seed, /*as_twin=*/false));
    GF_RETURN_IF_ERROR(WriteCase(root, built));
    ++counts[static_cast<int>(c.op)];
    if (c.opset == 7) ++opset7;
    if (c.layout == 1) {
      GF_ASSIGN_OR_RETURN(BuiltCase twin, Build(c, seed, /*as_twin=*/true));
      GF_RETURN_IF_ERROR(WriteCase(root, twin));
      GF_RETURN_IF_ERROR(WriteFileAtomically((root / c.name / "twin").string(), twin.name + "\n"));
      ++twins;
    }
  }
  std::printf(
      "onnx_cases: wrote %zu cases (%d LSTM, %d GRU, %d RNN; %d opset 7; %d layout=1, each with a "
      "layout-0 twin) = %zu folders into %s (seed %llu); every model passed check_model\n",
      cases.size(), counts[0], counts[1], counts[2], opset7, twins, cases.size() + twins,
      out.c_str(), static_cast<unsigned long long>(seed));
  return absl::OkStatus();
}

// ---- --transpose-twin-outputs ----------------------------------------------------------------

absl::Status TransposeTwinOutputs(const std::string& case_arg) {
  fs::path case_dir(case_arg);
  while (case_dir.has_filename() == false && case_dir.has_parent_path() &&
         case_dir != case_dir.parent_path()) {
    case_dir = case_dir.parent_path();  // drop trailing slashes
  }
  GF_ASSIGN_OR_RETURN(std::string twin_text, ReadFile((case_dir / "twin").string()));
  const std::string twin_name(absl::StripAsciiWhitespace(twin_text));
  if (twin_name.empty() || twin_name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat((case_dir / "twin").string(),
                                                   ": expected a sibling folder's name"));
  }
  const fs::path twin_dir = case_dir.parent_path() / twin_name;
  GF_ASSIGN_OR_RETURN(onnx::ModelProto model,
                      ReadProto<onnx::ModelProto>(case_dir / "model.onnx"));
  if (model.graph().node_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(case_dir.string(), "/model.onnx: expected one node"));
  }
  const onnx::NodeProto& node = model.graph().node(0);
  int64_t layout = 0;
  for (const onnx::AttributeProto& a : node.attribute()) {
    if (a.name() == "layout") layout = a.i();
  }
  if (layout != 1) {
    return absl::InvalidArgumentError(absl::StrCat(case_dir.string(), "/model.onnx: its ",
                                                   node.op_type(), " node is not layout=1"));
  }
  int written = 0;
  for (int k = 0; k < model.graph().output_size(); ++k) {
    const std::string& name = model.graph().output(k).name();
    const fs::path from = twin_dir / "test_data_set_0" / absl::StrCat("output_", k, ".pb");
    if (!fs::exists(from)) {
      return absl::NotFoundError(absl::StrCat(
          from.string(), ": missing (run ONNX Runtime on the twin first: tools/ort_run.js)"));
    }
    GF_ASSIGN_OR_RETURN(onnx::TensorProto twin_out, ReadProto<onnx::TensorProto>(from));
    if (twin_out.name() != name) {
      return absl::InvalidArgumentError(absl::StrCat(from.string(), ": named '", twin_out.name(),
                                                     "', expected '", name, "'"));
    }
    int slot = -1;
    for (int i = 0; i < node.output_size(); ++i) {
      if (node.output(i) == name) slot = i;
    }
    if (slot < 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is not an output of the node"));
    }
    GF_ASSIGN_OR_RETURN(Array a, DecodeReal(twin_out, from.string()));
    // Y: [T, D, B, H] -> [B, T, D, H]; Y_h, Y_c: [D, B, H] -> [B, D, H].
    const std::vector<int> perm = slot == 0 ? std::vector<int>{2, 0, 1, 3} : std::vector<int>{1, 0, 2};
    if (a.dims.size() != perm.size()) {
      return absl::InvalidArgumentError(absl::StrCat(from.string(), ": rank ", a.dims.size(),
                                                     ", expected ", perm.size()));
    }
    const Array t = Permute(a, perm);
    const bool f64 = twin_out.data_type() == onnx::TensorProto::DOUBLE;
    GF_RETURN_IF_ERROR(WriteProto(case_dir / "test_data_set_0" / absl::StrCat("output_", k, ".pb"),
                                  EncodeReal(name, t, f64, /*typed=*/false)));
    ++written;
  }
  std::printf("onnx_cases: %s: %d outputs transposed from %s\n", case_dir.filename().c_str(),
              written, twin_name.c_str());
  return absl::OkStatus();
}

constexpr char kUsage[] =
    "usage: onnx_cases --out DIR [--seed S]\n"
    "       onnx_cases --transpose-twin-outputs DIR/CASE\n"
    "       onnx_cases --list\n"
    "Writes the ONNX LSTM/GRU/RNN cases (ONNX backend test layout) that gatefuse's importer is\n"
    "checked with against ONNX Runtime; see tools/onnx_ort_check.sh.\n";

int Main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--list") {
      flags[arg] = "";
      continue;
    }
    std::string value;
    const size_t eq = arg.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (arg != "--out" && arg != "--seed" && arg != "--transpose-twin-outputs") {
      std::fprintf(stderr, "onnx_cases: unknown argument %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "onnx_cases: %s needs a value\n%s", arg.c_str(), kUsage);
        return 2;
      }
      value = argv[++i];
    }
    flags[arg] = value;
  }
  const int modes = static_cast<int>(flags.count("--out") + flags.count("--list") +
                                     flags.count("--transpose-twin-outputs"));
  if (modes != 1 || (flags.count("--seed") && !flags.count("--out"))) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  absl::Status status;
  if (flags.count("--list")) {
    for (const CaseSpec& c : AllCases()) {
      std::printf("%s\n", c.name.c_str());
      if (c.layout == 1) std::printf("%s%s\n", c.name.c_str(), kTwinSuffix);
    }
    return 0;
  } else if (flags.count("--transpose-twin-outputs")) {
    status = TransposeTwinOutputs(flags["--transpose-twin-outputs"]);
  } else {
    uint64_t seed = kDefaultSeed;
    if (flags.count("--seed") && !absl::SimpleAtoi(flags["--seed"], &seed)) {
      std::fprintf(stderr, "onnx_cases: --seed: not a non-negative integer: %s\n",
                   flags["--seed"].c_str());
      return 2;
    }
    status = WriteAll(flags["--out"], seed);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "onnx_cases: error: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace gatefuse

int main(int argc, char** argv) { return gatefuse::Main(argc, argv); }
