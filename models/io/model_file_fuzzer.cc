// libFuzzer target for the model-file loader (built and run by
// `tools/fuzz.sh model_file` with clang's -fsanitize=fuzzer,address,undefined;
// tests:model_file_fuzz_corpus_test replays tests/fuzz_corpus/model_file/
// through it in the normal build).
//
// An input that starts with the magic "GFMODEL\0" is parsed as a whole file, so
// the header checks are fuzzed. Any other input is taken as a payload and
// wrapped in a correct header first: random bytes almost never match a CRC, and
// this way the protobuf parser and the semantic checks see every mutation.
//
// Beyond "no crash", a file that loads must be usable: its parameters convert
// to tensors, its graph converts to a Graph, it describes itself, and saving it
// again gives a file that loads.
//
// With GATEFUSE_FUZZ_WRITE_SEEDS=DIR set, the binary writes a few valid files
// and payloads (builtin cells with traced graphs, a .cell custom cell, a
// checkpoint) into DIR and exits; the script adds the regression corpus.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "graph/serialize.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"
#include "models/io/model_file.h"

namespace {

using namespace gatefuse;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr char kMgu[] =
    "cell mgu\n"
    "input x[I]\n"
    "state h[H]\n"
    "param Wf[I,H] Wn[I,H] Uf[H,H] Un[H,H] bf[H] bn[H]\n"
    "f = sigmoid(x @ Wf + h @ Uf + bf)\n"
    "n = tanh(x @ Wn + bn + (f * h) @ Un)\n"
    "next h = (1 - f) * h + f * n\n";

ModelFile BuiltinSeed(const std::string& kind, bool graph, bool checkpoint) {
  ModelFile m;
  const Cell cell = *BuiltinCell(kind, 2, 3);
  m.mutable_cell()->set_kind(kind);
  (*m.mutable_cell()->mutable_sizes())["I"] = 2;
  (*m.mutable_cell()->mutable_sizes())["H"] = 3;
  if (graph) *m.mutable_cell()->mutable_graph() = *ToProto(*TraceCell(cell));
  Require(SetParameters(InitParams(cell, DType::kF32, 1), m).ok());
  LayerConfig* l = m.add_layers();
  l->set_type("recurrent");
  l->set_name("rnn");
  (*l->mutable_int_params())["hidden"] = 3;
  (*l->mutable_float_params())["dropout"] = 0.5;
  (*l->mutable_string_params())["cell"] = kind;
  for (const char* w : {"<pad>", "<unk>", "a"}) m.add_vocabulary(w);
  (*m.mutable_metadata())["task"] = "fuzz";
  if (checkpoint) {
    Checkpoint* c = m.mutable_checkpoint();
    c->set_optimizer("adam");
    (*c->mutable_optimizer_config())["lr"] = 0.01;
    Require(TensorsToProtos({{"m/W", Tensor::Zeros({2, 3}, DType::kF64)}},
                            c->mutable_optimizer_state())
                .ok());
    c->set_step(7);
    c->set_rng_state("rng");
    MetricRecord* r = c->add_metrics();
    r->set_step(7);
    (*r->mutable_values())["loss"] = 0.5;
  }
  return m;
}

ModelFile CustomSeed() {
  ModelFile m;
  const CellSource src = *ParseCellSource(kMgu, "mgu.cell");
  const Graph g = *CompileCell(src, {{"I", 2}, {"H", 3}});
  m.mutable_cell()->set_kind("mgu");
  m.mutable_cell()->set_cell_text(kMgu);
  (*m.mutable_cell()->mutable_sizes())["I"] = 2;
  (*m.mutable_cell()->mutable_sizes())["H"] = 3;
  *m.mutable_cell()->mutable_graph() = *ToProto(g);
  Require(SetParameters(InitParams(*CellFromGraph(g), DType::kF64, 2), m).ok());
  return m;
}

void WriteSeeds(const std::string& dir) {
  int n = 0;
  auto write = [&](const std::string& bytes) {
    std::ofstream(absl::StrCat(dir, "/seed", n++), std::ios::binary) << bytes;
  };
  const ModelFile seeds[] = {BuiltinSeed("rnn_tanh", false, false),
                             BuiltinSeed("lstm", true, true), BuiltinSeed("gru", true, false),
                             CustomSeed(), ModelFile()};
  for (const ModelFile& m : seeds) {
    const std::string file = *SerializeModelFile(m);
    write(file);                                          // a whole file
    write(file.substr(kModelFileHeaderSize));             // its payload
  }
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("GATEFUSE_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const bool whole_file =
      size >= sizeof kModelFileMagic && std::memcmp(data, kModelFileMagic, sizeof kModelFileMagic) == 0;
  const std::string bytes = whole_file ? std::string(input) : EncodeModelFileContainer(input);
  absl::StatusOr<ModelFile> model = ParseModelFileBytes(bytes);
  if (!model.ok()) {
    const absl::StatusCode code = model.status().code();
    Require(code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  Require(ParameterTensors(*model).ok());
  if (model->has_cell() && model->cell().has_graph()) Require(FromProto(model->cell().graph()).ok());
  if (model->has_checkpoint()) {
    Require(TensorsFromProtos(model->checkpoint().optimizer_state(), "optimizer state").ok());
  }
  Require(!DescribeModelFile(*model).empty());
  absl::StatusOr<std::string> again = SerializeModelFile(*model);
  Require(again.ok());
  Require(ParseModelFileBytes(*again).ok());
  return 0;
}
