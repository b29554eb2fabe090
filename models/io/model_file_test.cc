// Tests of models/model_file.h: bit-identical save/load round trips (every
// builtin cell and a .cell custom cell, numerics included), atomic saves, and a
// corpus of damaged files that must be refused cleanly.
#include "models/io/model_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/serialize.h"
#include "graph/text.h"
#include "core/file_io_testing.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"
#include "models/cells/cell_language.h"

namespace gatefuse {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

// ---- helpers ----

void WriteFile(const std::string& path, const std::string& bytes) {
  EXPECT_TRUE(WriteFileAtomically(path, bytes).ok());
}

std::string Bytes(const Tensor& t) {
  const Tensor c = t.Contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.num_elements() * SizeOf(c.dtype()));
}

void ExpectSameTensors(const std::map<std::string, Tensor>& got,
                       const std::map<std::string, Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << name;
    EXPECT_EQ(it->second.dtype(), t.dtype()) << name;
    EXPECT_EQ(it->second.shape(), t.shape()) << name;
    EXPECT_EQ(Bytes(it->second), Bytes(t)) << name;  // byte for byte
  }
}

std::map<std::string, Tensor> Tensors(const ParamMap& params) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, v] : params) out[name] = v.value();
  return out;
}

// RunSequence of `cell` with both parameter sets gives the same bits.
void ExpectSameOutputs(const Cell& cell, const ParamMap& a, const ParamMap& b, DType dtype) {
  const Var x = Var::Leaf(Tensor::Uniform({5, 2, cell.input_size}, dtype, 11, -1, 1));
  std::vector<Var> initial;
  for (size_t k = 0; k < cell.states.size(); ++k) {
    initial.push_back(Var::Leaf(Tensor::Uniform({2, cell.hidden_size}, dtype, 20 + k, -1, 1)));
  }
  absl::StatusOr<SequenceResult> ra = RunSequence(cell, x, initial, a);
  absl::StatusOr<SequenceResult> rb = RunSequence(cell, x, initial, b);
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(Bytes(ra->y.value()), Bytes(rb->y.value()));
  ASSERT_EQ(ra->final_states.size(), rb->final_states.size());
  for (size_t k = 0; k < ra->final_states.size(); ++k) {
    EXPECT_EQ(Bytes(ra->final_states[k].value()), Bytes(rb->final_states[k].value()))
        << cell.states[k];
  }
}

Checkpoint SomeCheckpoint() {
  Checkpoint c;
  c.set_optimizer("adam");
  (*c.mutable_optimizer_config())["lr"] = 1e-3;
  (*c.mutable_optimizer_config())["beta2"] = 0.999;
  std::map<std::string, Tensor> state = {
      {"m/W", Tensor::Uniform({3, 4}, DType::kF32, 5, -1, 1)},
      {"v/W", Tensor::Uniform({3, 4}, DType::kF32, 6, 0, 1)},
      {"t", Tensor::Scalar(12, DType::kI64)}};
  EXPECT_TRUE(TensorsToProtos(state, c.mutable_optimizer_state()).ok());
  c.set_step(12);
  c.set_rng_state(std::string("\x01\x00\xff\x7f rng", 8));
  for (int k = 1; k <= 3; ++k) {
    MetricRecord* m = c.add_metrics();
    m->set_step(4 * k);
    m->set_epoch(k);
    (*m->mutable_values())["train_loss"] = 1.0 / k;
    (*m->mutable_values())["valid_accuracy"] = 0.5 + 0.1 * k;
  }
  return c;
}

// A complete model of a builtin cell: kind, sizes, traced graph, parameters,
// layers, vocabulary, metadata and a checkpoint.
ModelFile BuiltinModel(const Cell& cell, DType dtype, const ParamMap& params) {
  ModelFile m;
  CellSourceProto* c = m.mutable_cell();
  c->set_kind(cell.kind);
  (*c->mutable_sizes())["I"] = cell.input_size;
  (*c->mutable_sizes())["H"] = cell.hidden_size;
  c->set_dtype(DTypeToProto(dtype));
  absl::StatusOr<Graph> g = TraceCell(cell, dtype);
  EXPECT_TRUE(g.ok()) << g.status();
  *c->mutable_graph() = ToProto(*g).value();
  LayerConfig* emb = m.add_layers();
  emb->set_type("embedding");
  emb->set_name("embed");
  (*emb->mutable_int_params())["vocab_size"] = 4;
  (*emb->mutable_int_params())["dim"] = cell.input_size;
  LayerConfig* rec = m.add_layers();
  rec->set_type("recurrent");
  rec->set_name("rnn");
  (*rec->mutable_string_params())["cell"] = cell.kind;
  (*rec->mutable_float_params())["dropout"] = 0.25;
  EXPECT_TRUE(SetParameters(params, m).ok());
  for (const char* w : {"<pad>", "<unk>", "the", "whale"}) m.add_vocabulary(w);
  (*m.mutable_metadata())["task"] = "next_word";
  (*m.mutable_metadata())["dataset"] = "moby_dick";
  *m.mutable_checkpoint() = SomeCheckpoint();
  return m;
}

// A small valid model for the damage corpus: a builtin cell by kind and sizes,
// two small parameters.
ModelFile SmallModel() {
  ModelFile m;
  m.mutable_cell()->set_kind("rnn_tanh");
  (*m.mutable_cell()->mutable_sizes())["I"] = 2;
  (*m.mutable_cell()->mutable_sizes())["H"] = 3;
  std::map<std::string, Tensor> params = {
      {"W", Tensor::Uniform({2, 3}, DType::kF32, 1, -1, 1)},
      {"b", Tensor::Uniform({3}, DType::kF64, 2, -1, 1)}};
  EXPECT_TRUE(SetParameters(params, m).ok());
  m.add_vocabulary("<pad>");
  (*m.mutable_metadata())["task"] = "t";
  return m;
}

// ---- the container (model_container_test.cc tests its framing) ----

TEST(ModelFileTest, TheContainerHoldsTheDeterministicPayload) {
  absl::StatusOr<std::string> bytes = SerializeModelFile(SmallModel());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_GT(bytes->size(), static_cast<size_t>(kModelFileHeaderSize));
  const std::string payload = bytes->substr(kModelFileHeaderSize);
  EXPECT_EQ(*bytes, EncodeModelFileContainer(payload));
  ModelFile parsed;
  ASSERT_TRUE(parsed.ParseFromString(payload));
  EXPECT_EQ(parsed.format_version(), kModelFormatVersion);
  // One model, one file: maps are written in key order.
  EXPECT_EQ(*SerializeModelFile(SmallModel()), *bytes);
}

// ---- round trips ----

TEST(ModelFileTest, EveryBuiltinCellRoundTripsBitIdentical) {
  const std::string folder = NewTestFolder("model_file");
  for (const std::string& kind : BuiltinCellKinds()) {
    for (DType dtype : {DType::kF32, DType::kF64}) {
      SCOPED_TRACE(absl::StrCat(kind, " ", DTypeName(dtype)));
      absl::StatusOr<Cell> cell = BuiltinCell(kind, 3, 5);
      ASSERT_TRUE(cell.ok()) << cell.status();
      const ParamMap params = InitParams(*cell, dtype, 17);
      const ModelFile model = BuiltinModel(*cell, dtype, params);
      const std::string path = absl::StrCat(folder, "/", kind, ".gfm");
      ASSERT_TRUE(SaveModelFile(model, path).ok());
      absl::StatusOr<ModelFile> back = LoadModelFile(path);
      ASSERT_TRUE(back.ok()) << back.status();

      EXPECT_EQ(back->format_version(), kModelFormatVersion);
      absl::StatusOr<std::map<std::string, Tensor>> tensors = ParameterTensors(*back);
      ASSERT_TRUE(tensors.ok()) << tensors.status();
      ExpectSameTensors(*tensors, Tensors(params));
      // The cell comes back as source: rebuilt from its kind and sizes, and
      // the graph prints as the traced one.
      EXPECT_EQ(back->cell().kind(), kind);
      EXPECT_EQ(back->cell().sizes().at("I"), 3);
      EXPECT_EQ(back->cell().sizes().at("H"), 5);
      absl::StatusOr<Graph> graph = FromProto(back->cell().graph());
      ASSERT_TRUE(graph.ok()) << graph.status();
      EXPECT_EQ(PrintGraph(*graph), PrintGraph(*TraceCell(*cell, dtype)));
      absl::StatusOr<Cell> rebuilt =
          BuiltinCell(back->cell().kind(), back->cell().sizes().at("I"),
                      back->cell().sizes().at("H"));
      ASSERT_TRUE(rebuilt.ok());
      absl::StatusOr<ParamMap> loaded = ParameterVars(*back);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      ExpectSameOutputs(*rebuilt, *loaded, params, dtype);
      // Everything else as written.
      ASSERT_EQ(back->layers_size(), 2);
      EXPECT_EQ(back->layers(1).string_params().at("cell"), kind);
      EXPECT_EQ(back->layers(1).float_params().at("dropout"), 0.25);
      EXPECT_EQ(back->vocabulary_size(), 4);
      EXPECT_EQ(back->metadata().at("dataset"), "moby_dick");
      EXPECT_TRUE(MessageDifferencer::Equals(back->checkpoint(), model.checkpoint()));
      ModelFile want = model;
      want.set_format_version(kModelFormatVersion);
      EXPECT_TRUE(MessageDifferencer::Equals(*back, want));
    }
  }
  EXPECT_EQ(ListFolder(folder).size(), BuiltinCellKinds().size());  // no temporary files left
}

TEST(ModelFileTest, CustomCellFromACellFileRoundTripsAndRecompiles) {
  absl::StatusOr<CellSource> src = ReadCellFile("models/cells/mgu.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  const std::map<std::string, int64_t> sizes = {{"I", 3}, {"H", 4}};
  absl::StatusOr<Graph> graph = CompileCell(*src, sizes, DType::kF64);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<Cell> cell = CellFromGraph(*graph);
  ASSERT_TRUE(cell.ok()) << cell.status();
  const ParamMap params = InitParams(*cell, DType::kF64, 3);

  ModelFile model;
  CellSourceProto* c = model.mutable_cell();
  c->set_kind(src->name);
  c->set_cell_text(src->text);
  c->set_cell_filename("mgu.cell");
  for (const auto& [symbol, size] : sizes) (*c->mutable_sizes())[symbol] = size;
  c->set_dtype(DTYPE_F64);
  *c->mutable_graph() = ToProto(*graph).value();
  ASSERT_TRUE(SetParameters(params, model).ok());

  const std::string path = NewTestFolder("model_file") + "/mgu.gfm";
  ASSERT_TRUE(SaveModelFile(model, path).ok());
  absl::StatusOr<ModelFile> back = LoadModelFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->cell().cell_text(), src->text);
  ExpectSameTensors(*ParameterTensors(*back), Tensors(params));

  // The loading side recompiles the text with the saved sizes.
  absl::StatusOr<CellSource> reparsed =
      ParseCellSource(back->cell().cell_text(), back->cell().cell_filename());
  ASSERT_TRUE(reparsed.ok()) << reparsed.status();
  std::map<std::string, int64_t> back_sizes(back->cell().sizes().begin(),
                                            back->cell().sizes().end());
  absl::StatusOr<Graph> recompiled = CompileCell(*reparsed, back_sizes, DType::kF64);
  ASSERT_TRUE(recompiled.ok()) << recompiled.status();
  EXPECT_EQ(PrintGraph(*recompiled), PrintGraph(*graph));
  EXPECT_EQ(PrintGraph(*FromProto(back->cell().graph())), PrintGraph(*graph));
  absl::StatusOr<Cell> recompiled_cell = CellFromGraph(*recompiled);
  ASSERT_TRUE(recompiled_cell.ok()) << recompiled_cell.status();
  ExpectSameOutputs(*recompiled_cell, *ParameterVars(*back), params, DType::kF64);
}

TEST(ModelFileTest, DescribeNamesEverything) {
  absl::StatusOr<CellSource> src = ReadCellFile("models/cells/mgu.cell");
  ASSERT_TRUE(src.ok()) << src.status();
  absl::StatusOr<Cell> cell = BuiltinCell("lstm", 3, 5);
  ModelFile m = BuiltinModel(*cell, DType::kF32, InitParams(*cell, DType::kF32, 1));
  m.mutable_cell()->set_cell_text(src->text);
  m.mutable_cell()->set_kind("mgu");
  m.set_format_version(1);
  const std::string text = DescribeModelFile(m);
  EXPECT_THAT(text, HasSubstr("gatefuse model, format 1\n"));
  EXPECT_THAT(text, HasSubstr("cell: mgu (H=5, I=3), f32\n"));
  EXPECT_THAT(text, HasSubstr("    next h = (1 - f) * h + f * n\n"));
  EXPECT_THAT(text, HasSubstr("  graph lstm: "));
  EXPECT_THAT(text, HasSubstr("layers: 2\n  embed: embedding {dim=3, vocab_size=4}\n"));
  EXPECT_THAT(text, HasSubstr("  rnn: recurrent {dropout=0.25, cell=lstm}\n"));
  EXPECT_THAT(text, HasSubstr("parameters: 12 tensors, 180 values\n"));
  EXPECT_THAT(text, HasSubstr("  Wi f32[3,5] 15\n"));
  EXPECT_THAT(text, HasSubstr("  bo f32[5] 5\n"));
  EXPECT_THAT(text, HasSubstr("vocabulary: 4 tokens\n"));
  EXPECT_THAT(text, HasSubstr("metadata:\n  dataset = moby_dick\n  task = next_word\n"));
  EXPECT_THAT(text, HasSubstr("checkpoint: step 12, optimizer adam {beta2=0.999, lr=0.001}, "
                              "3 state tensors, rng state 8 bytes, 3 metric records\n"));
  EXPECT_THAT(text, HasSubstr("  last metrics: step 12 epoch 3 train_loss=0.333333, "
                              "valid_accuracy=0.8\n"));
  EXPECT_THAT(DescribeModelFile(ModelFile()), HasSubstr("cell: none\n"));
  EXPECT_THAT(DescribeModelFile(ModelFile()), HasSubstr("checkpoint: none\n"));
}

// ---- atomic saves ----

TEST(ModelFileTest, SavingOverAFileReplacesItAndLeavesNoTemporaryFile) {
  const std::string folder = NewTestFolder("model_file");
  const std::string path = folder + "/m.gfm";
  ModelFile a = SmallModel();
  ModelFile b = SmallModel();
  (*b.mutable_metadata())["task"] = "b";
  ASSERT_TRUE(SaveModelFile(a, path).ok());
  ASSERT_TRUE(SaveModelFile(b, path).ok());
  EXPECT_EQ(LoadModelFile(path)->metadata().at("task"), "b");
  EXPECT_EQ(ListFolder(folder), std::set<std::string>{"m.gfm"});
}

TEST(ModelFileTest, AFailureBeforeTheRenameKeepsThePreviousFile) {
  const std::string folder = NewTestFolder("model_file");
  const std::string path = folder + "/m.gfm";
  ASSERT_TRUE(SaveModelFile(SmallModel(), path).ok());
  const std::string before = ReadFile(path).value();
  ModelFile b = SmallModel();
  (*b.mutable_metadata())["task"] = "b";
  std::string seen_temp;
  SaveModelFileOptions options;
  options.before_rename_for_testing = [&](const std::string& temp) {
    seen_temp = temp;
    // The temporary file is complete and synced at this point.
    EXPECT_EQ(LoadModelFile(temp)->metadata().at("task"), "b");
    return absl::UnavailableError("disk went away");
  };
  const absl::Status s = SaveModelFile(b, path, options);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(seen_temp, HasSubstr(folder + "/m.gfm.tmp-"));
  EXPECT_EQ(ReadFile(path).value(), before);
  EXPECT_EQ(LoadModelFile(path)->metadata().at("task"), "t");
  EXPECT_EQ(ListFolder(folder), std::set<std::string>{"m.gfm"});  // temporary file removed
}

TEST(ModelFileTest, AFailedSaveCreatesNothing) {
  const std::string folder = NewTestFolder("model_file");
  // Into a folder that does not exist.
  absl::Status s = SaveModelFile(SmallModel(), folder + "/no/such/m.gfm");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot create"));
  // An invalid model is refused before anything is written.
  ModelFile bad = SmallModel();
  bad.mutable_parameters(0)->mutable_data()->pop_back();
  s = SaveModelFile(bad, folder + "/m.gfm");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("parameter 'W'"));
  // Over a folder: the rename fails, the temporary file goes.
  ASSERT_EQ(mkdir((folder + "/d").c_str(), 0755), 0);
  s = SaveModelFile(SmallModel(), folder + "/d");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot rename"));
  EXPECT_EQ(ListFolder(folder), std::set<std::string>{"d"});
}

// ---- damaged files ----

void ExpectRefused(const absl::StatusOr<ModelFile>& m, absl::StatusCode code,
                   const std::string& message) {
  ASSERT_FALSE(m.ok()) << "accepted a damaged file (expected: " << message << ")";
  EXPECT_EQ(m.status().code(), code) << m.status();
  EXPECT_THAT(m.status().message(), HasSubstr(message));
}

TEST(ModelFileTest, EveryTruncationIsRefused) {
  const std::string good = *SerializeModelFile(SmallModel());
  ASSERT_TRUE(ParseModelFileBytes(good).ok());
  for (size_t n = 0; n < good.size(); ++n) {
    SCOPED_TRACE(n);
    ExpectRefused(ParseModelFileBytes(absl::string_view(good).substr(0, n)),
                  absl::StatusCode::kDataLoss, "truncated");
  }
  // The same through a file: the error names it.
  const std::string path = NewTestFolder("model_file") + "/cut.gfm";
  WriteFile(path, good.substr(0, good.size() / 2));
  ExpectRefused(LoadModelFile(path), absl::StatusCode::kDataLoss, path + ": truncated");
}

TEST(ModelFileTest, EverySingleBitFlipIsRefused) {
  const std::string good = *SerializeModelFile(SmallModel());
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string bad = good;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    absl::StatusOr<ModelFile> m = ParseModelFileBytes(bad);
    ASSERT_FALSE(m.ok()) << "bit " << bit << " flipped was accepted";
    // Damage is DataLoss; a flip that raises the version reads as a newer file.
    const bool version_field = bit / 8 >= 8 && bit / 8 < 12;
    EXPECT_EQ(m.status().code(), version_field && bit != 64 ? absl::StatusCode::kInvalidArgument
                                                            : absl::StatusCode::kDataLoss)
        << "bit " << bit << ": " << m.status();
  }
}

TEST(ModelFileTest, PayloadDamageBehindAValidChecksumNeverCrashes) {
  // Bit flips and truncations of the payload, re-wrapped with a correct CRC:
  // the protobuf parser and the semantic checks see them. Each is refused or
  // yields a model that validates.
  const std::string payload = SerializeModelFile(SmallModel())->substr(kModelFileHeaderSize);
  int refused = 0, accepted = 0;
  for (size_t bit = 0; bit < payload.size() * 8; ++bit) {
    std::string bad = payload;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    absl::StatusOr<ModelFile> m = ParseModelFileBytes(EncodeModelFileContainer(bad));
    if (m.ok()) {
      ++accepted;
      EXPECT_TRUE(ValidateModelFile(*m).ok());
    } else {
      ++refused;
      EXPECT_TRUE(m.status().code() == absl::StatusCode::kDataLoss ||
                  m.status().code() == absl::StatusCode::kInvalidArgument)
          << m.status();
    }
  }
  for (size_t n = 0; n < payload.size(); ++n) {
    absl::StatusOr<ModelFile> m =
        ParseModelFileBytes(EncodeModelFileContainer(payload.substr(0, n)));
    if (!m.ok()) ++refused;
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(accepted, 0);  // e.g. a flipped bit of a float parameter
}

TEST(ModelFileTest, DamagedHeadersAreRefusedWithTheirReason) {
  const std::string good = *SerializeModelFile(SmallModel());
  const std::string folder = NewTestFolder("model_file");
  auto load = [&](const std::string& bytes) {
    WriteFile(folder + "/m.gfm", bytes);
    return LoadModelFile(folder + "/m.gfm");
  };
  std::string bad = good;
  bad[7] = '\x01';
  ExpectRefused(load(bad), absl::StatusCode::kDataLoss, "not a gatefuse model file");
  ExpectRefused(load("PK\x03\x04 a zip file"), absl::StatusCode::kDataLoss,
                "not a gatefuse model file");
  ExpectRefused(load(""), absl::StatusCode::kDataLoss, "truncated: 0 bytes");

  const std::string payload = good.substr(kModelFileHeaderSize);
  ExpectRefused(load(EncodeModelFileContainer(payload, 2)), absl::StatusCode::kInvalidArgument,
                "written by a newer gatefuse (format 2, this binary reads up to 1)");
  ExpectRefused(load(EncodeModelFileContainer(payload, 0xffffffff)),
                absl::StatusCode::kInvalidArgument, "format 4294967295");
  ExpectRefused(load(EncodeModelFileContainer(payload, 0)), absl::StatusCode::kDataLoss,
                "format version 0");

  bad = good;
  for (int k = 12; k < 20; ++k) bad[k] = '\xff';  // 2^64 - 1 bytes declared
  ExpectRefused(load(bad), absl::StatusCode::kDataLoss,
                "truncated: the header declares a 18446744073709551615-byte payload");
  bad = good;
  bad[19] = '\x7f';
  ExpectRefused(load(bad), absl::StatusCode::kDataLoss, "the header declares a ");
  ExpectRefused(load(good + "extra"), absl::StatusCode::kDataLoss,
                "5 bytes of trailing data after the declared");

  bad = good;
  bad[20] = static_cast<char>(bad[20] ^ 0x10);
  ExpectRefused(load(bad), absl::StatusCode::kDataLoss, "checksum mismatch");
  bad = good;
  bad[good.size() - 1] = static_cast<char>(bad[good.size() - 1] ^ 0x80);
  ExpectRefused(load(bad), absl::StatusCode::kDataLoss, "checksum mismatch");

  ExpectRefused(load(EncodeModelFileContainer("\xff\xff\xff\xff garbage")),
                absl::StatusCode::kDataLoss, "not a valid ModelFile protobuf message");

  const std::string missing = folder + "/none.gfm";
  EXPECT_EQ(LoadModelFile(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(LoadModelFile(missing).status().message(), HasSubstr(missing));
  ExpectRefused(LoadModelFile(folder), absl::StatusCode::kInvalidArgument, "not a regular file");
  ASSERT_EQ(mkfifo((folder + "/fifo").c_str(), 0600), 0);
  ExpectRefused(LoadModelFile(folder + "/fifo"), absl::StatusCode::kInvalidArgument,
                "not a regular file");
}

TEST(ModelFileTest, IntactButMeaninglessPayloadsAreInvalidArgument) {
  struct Case {
    std::string what;
    std::function<void(ModelFile&)> damage;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"param bytes", [](ModelFile& m) { m.mutable_parameters(0)->mutable_data()->resize(20); },
       "parameter 'W': f32[2,3] needs 24 bytes of data, has 20"},
      {"unknown dtype", [](ModelFile& m) { m.mutable_parameters(1)->set_dtype(static_cast<DTypeProto>(7)); },
       "parameter 'b': unknown dtype 7"},
      {"no dtype", [](ModelFile& m) { m.mutable_parameters(1)->set_dtype(DTYPE_UNSPECIFIED); },
       "parameter 'b': dtype is not set"},
      {"negative dim", [](ModelFile& m) { m.mutable_parameters(0)->set_dims(0, -2); },
       "parameter 'W': dimension -2 in [-2,3] is negative"},
      {"absurd shape",
       [](ModelFile& m) {
         for (int k = 0; k < 4; ++k) m.mutable_parameters(0)->add_dims(1 << 20);
       },
       "parameter 'W': shape [2,3,1048576,1048576,1048576,1048576] has more than 2^40 elements"},
      {"param twice", [](ModelFile& m) { *m.add_parameters() = m.parameters(0); },
       "parameter 'W': the name is used twice"},
      {"param without name", [](ModelFile& m) { m.mutable_parameters(1)->clear_name(); },
       "parameter 1: has no name"},
      {"version mismatch", [](ModelFile& m) { m.set_format_version(0); },
       "the payload says format 0 but the header says 1"},
      {"graph fails the verifier",
       [](ModelFile& m) {
         Graph g = *TraceCell(*BuiltinCell("rnn_tanh", 2, 3));
         GraphProto p = *ToProto(g);
         p.mutable_nodes(p.nodes_size() - 1)->mutable_outputs(0)->set_dims(1, 7);
         *m.mutable_cell()->mutable_graph() = p;
       },
       "cell graph: GraphProto: graph rnn_tanh: node %"},
      {"graph with a dangling edge",
       [](ModelFile& m) {
         GraphProto p = *ToProto(*TraceCell(*BuiltinCell("rnn_tanh", 2, 3)));
         p.mutable_nodes(p.nodes_size() - 1)->mutable_inputs(0)->set_node(1000);
         *m.mutable_cell()->mutable_graph() = p;
       },
       "refers to node 1000"},
      {"cell text syntax",
       [](ModelFile& m) {
         m.mutable_cell()->set_cell_text("cell rnn_tanh\ninput x[I]\nstate h[H]\nnext h = tanh(\n");
       },
       "cell source: <model file>:4:"},
      {"cell text size not given",
       [](ModelFile& m) {
         m.mutable_cell()->set_cell_text(
             "cell rnn_tanh\ninput x[I]\nstate h[K]\nparam U[K,K]\nnext h = tanh(h @ U)\n");
       },
       "the .cell text uses size K, which the file does not give"},
      {"cell text other name",
       [](ModelFile& m) {
         m.mutable_cell()->set_cell_text("cell other\ninput x[I]\nstate h[H]\nnext h = h\n");
       },
       "kind 'rnn_tanh' but the .cell text defines 'other'"},
      {"unknown kind", [](ModelFile& m) { m.mutable_cell()->set_kind("quantum_lstm"); },
       "kind 'quantum_lstm' is not builtin"},
      {"builtin without sizes", [](ModelFile& m) { m.mutable_cell()->mutable_sizes()->erase("H"); },
       "builtin kind 'rnn_tanh' needs size H"},
      {"empty cell", [](ModelFile& m) { m.mutable_cell()->clear_kind(); },
       "cell: has no kind, .cell text or graph"},
      {"bad size", [](ModelFile& m) { (*m.mutable_cell()->mutable_sizes())["H"] = -3; },
       "size H=-3 is out of range"},
      {"cell dtype", [](ModelFile& m) { m.mutable_cell()->set_dtype(static_cast<DTypeProto>(5)); },
       "cell: unknown dtype 5"},
      {"layer names twice",
       [](ModelFile& m) {
         for (int k = 0; k < 2; ++k) {
           LayerConfig* l = m.add_layers();
           l->set_type("dense");
           l->set_name("out");
         }
       },
       "layer 1 'out': the name is used twice"},
      {"layer type", [](ModelFile& m) { m.add_layers()->set_name("x"); }, "layer 0 'x': has no type"},
      {"vocabulary twice", [](ModelFile& m) { m.add_vocabulary("<pad>"); },
       "token '<pad>' appears twice (ids 0 and 1)"},
      {"checkpoint step", [](ModelFile& m) { m.mutable_checkpoint()->set_step(-1); },
       "checkpoint: step -1 is negative"},
      {"optimizer state bytes",
       [](ModelFile& m) {
         *m.mutable_checkpoint() = SomeCheckpoint();
         m.mutable_checkpoint()->mutable_optimizer_state(0)->mutable_data()->append("xyz");
       },
       "optimizer state 'm/W': f32[3,4] needs 48 bytes of data, has 51"},
  };
  const std::string folder = NewTestFolder("model_file");
  const ModelFile good = SmallModel();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ModelFile bad = good;
    bad.set_format_version(kModelFormatVersion);
    c.damage(bad);
    // Written around the checks, with a valid checksum.
    const std::string path = folder + "/bad.gfm";
    WriteFile(path, EncodeModelFileContainer(bad.SerializeAsString()));
    ExpectRefused(LoadModelFile(path), absl::StatusCode::kInvalidArgument, c.message);
    // And never written in the first place.
    if (c.what != "version mismatch") {
      EXPECT_EQ(SerializeModelFile(bad).status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace gatefuse
