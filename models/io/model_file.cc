#include "models/io/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "graph/serialize.h"
#include "graph/text.h"
#include "models/cells/cell_language.h"

namespace gatefuse {
namespace {

// ---- CRC-32C ----
constexpr uint32_t kCrc32cPolynomial = 0x82F63B78;  // Castagnoli, bit-reflected

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

// ---- little-endian fields of the header ----
template <typename T>
void PutLittleEndian(T v, std::string& out) {
  for (size_t k = 0; k < sizeof(T); ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

template <typename T>
T GetLittleEndian(absl::string_view bytes, size_t offset) {
  T v = 0;
  for (size_t k = 0; k < sizeof(T); ++k) {
    v |= static_cast<T>(static_cast<unsigned char>(bytes[offset + k])) << (8 * k);
  }
  return v;
}

constexpr int64_t kMaxCellSize = int64_t{1} << 31;

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// Names unique and non-empty; dtype, shape and byte count of each as TensorProtoSpec.
absl::Status CheckNamedTensors(const google::protobuf::RepeatedPtrField<TensorProto>& tensors,
                               absl::string_view what) {
  std::set<absl::string_view> names;
  for (int k = 0; k < tensors.size(); ++k) {
    const TensorProto& t = tensors.Get(k);
    if (t.name().empty()) return Invalid(absl::StrCat(what, " ", k), "has no name");
    if (!names.insert(t.name()).second) {
      return Invalid(absl::StrCat(what, " '", t.name(), "'"), "the name is used twice");
    }
    GF_RETURN_IF_ERROR(TensorProtoSpec(t, absl::StrCat(what, " '", t.name(), "'")).status());
  }
  return absl::OkStatus();
}

absl::Status CheckCell(const CellSourceProto& cell) {
  const bool builtin_only = cell.cell_text().empty() && !cell.has_graph();
  if (cell.kind().empty() && builtin_only) {
    return Invalid("cell", "has no kind, .cell text or graph");
  }
  if (cell.dtype() != DTYPE_UNSPECIFIED) {
    absl::StatusOr<DType> dtype = DTypeFromProto(cell.dtype());
    if (!dtype.ok()) return Invalid("cell", dtype.status().message());
  }
  for (const auto& [symbol, size] : cell.sizes()) {
    if (symbol.empty()) return Invalid("cell", "a size has no symbol");
    if (size <= 0 || size > kMaxCellSize) {
      return Invalid("cell", absl::StrCat("size ", symbol, "=", size, " is out of range (1..",
                                          kMaxCellSize, ")"));
    }
  }
  if (!cell.cell_text().empty()) {
    const std::string filename =
        cell.cell_filename().empty() ? "<model file>" : cell.cell_filename();
    absl::StatusOr<CellSource> src = ParseCellSource(cell.cell_text(), filename);
    if (!src.ok()) return Invalid("cell source", src.status().message());
    if (!cell.kind().empty() && cell.kind() != src->name) {
      return Invalid("cell", absl::StrCat("kind '", cell.kind(), "' but the .cell text defines '",
                                          src->name, "'"));
    }
    for (const std::string& symbol : SizeSymbols(*src)) {
      if (!cell.sizes().contains(symbol)) {
        return Invalid("cell", absl::StrCat("the .cell text uses size ", symbol,
                                            ", which the file does not give"));
      }
    }
  }
  if (cell.has_graph()) {
    absl::StatusOr<Graph> g = FromProto(cell.graph());
    if (!g.ok()) return Invalid("cell graph", g.status().message());
  }
  if (builtin_only) {
    const std::vector<std::string> kinds = BuiltinCellKinds();
    if (std::find(kinds.begin(), kinds.end(), cell.kind()) == kinds.end()) {
      return Invalid("cell", absl::StrCat("kind '", cell.kind(),
                                          "' is not builtin and the file has no .cell text or "
                                          "graph to build it from (builtin: ",
                                          absl::StrJoin(kinds, " "), ")"));
    }
    for (const char* symbol : {"I", "H"}) {
      if (!cell.sizes().contains(symbol)) {
        return Invalid("cell", absl::StrCat("builtin kind '", cell.kind(), "' needs size ", symbol));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLayers(const ModelFile& model) {
  std::set<absl::string_view> names;
  for (int k = 0; k < model.layers_size(); ++k) {
    const LayerConfig& layer = model.layers(k);
    const std::string where = absl::StrCat("layer ", k, " '", layer.name(), "'");
    if (layer.type().empty()) return Invalid(where, "has no type");
    if (layer.name().empty()) return Invalid(where, "has no name");
    if (!names.insert(layer.name()).second) return Invalid(where, "the name is used twice");
  }
  return absl::OkStatus();
}

absl::Status CheckVocabulary(const ModelFile& model) {
  std::map<absl::string_view, int> ids;
  for (int k = 0; k < model.vocabulary_size(); ++k) {
    auto [it, fresh] = ids.emplace(model.vocabulary(k), k);
    if (!fresh) {
      return Invalid("vocabulary", absl::StrCat("token '", model.vocabulary(k),
                                                "' appears twice (ids ", it->second, " and ", k,
                                                ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCheckpoint(const Checkpoint& c) {
  if (c.step() < 0) return Invalid("checkpoint", absl::StrCat("step ", c.step(), " is negative"));
  GF_RETURN_IF_ERROR(CheckNamedTensors(c.optimizer_state(), "optimizer state"));
  if (c.optimizer_state_size() > 0 && c.optimizer().empty()) {
    return Invalid("checkpoint", "has optimizer state but no optimizer name");
  }
  return absl::OkStatus();
}

std::string TempPath(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tmp-", getpid(), "-", counter.fetch_add(1));
}

std::string Folder(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status ErrnoError(int err, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

// Writes `bytes` to a new file at `temp` and syncs it; the caller removes it on error.
absl::Status WriteAndSync(const std::string& temp, absl::string_view bytes, bool& created) {
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return ErrnoError(errno, "cannot create", temp);
  created = true;
  FILE* f = fdopen(fd, "wb");
  if (f == nullptr) {
    const int err = errno;
    close(fd);
    return ErrnoError(err, "cannot open", temp);
  }
  const size_t written = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  if (written != bytes.size() || std::fflush(f) != 0 || fsync(fileno(f)) != 0) {
    const int err = errno;
    std::fclose(f);
    return ErrnoError(err, "cannot write", temp);
  }
  if (std::fclose(f) != 0) return ErrnoError(errno, "cannot close", temp);
  return absl::OkStatus();
}

absl::Status SyncFolder(const std::string& folder) {
  const int fd = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open folder", folder);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, "cannot sync folder", folder);
  return absl::OkStatus();
}

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string DTypeString(int dtype) {
  absl::StatusOr<DType> d = DTypeFromProto(dtype);
  return d.ok() ? std::string(DTypeName(*d)) : absl::StrCat("dtype", dtype);
}

int64_t ElementCount(const TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

template <typename Map>
std::string SortedParams(const Map& m) {
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : m) sorted[k] = absl::StrCat(v);
  return absl::StrJoin(sorted, ", ", absl::PairFormatter("="));
}

}  // namespace

uint32_t Crc32c(absl::string_view data, uint32_t crc) {
  crc = ~crc;
  for (char c : data) crc = kCrcTable[(crc ^ static_cast<unsigned char>(c)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string EncodeModelFileContainer(absl::string_view payload, uint32_t version) {
  std::string out(kModelFileMagic, sizeof kModelFileMagic);
  out.reserve(kModelFileHeaderSize + payload.size());
  PutLittleEndian<uint32_t>(version, out);
  PutLittleEndian<uint64_t>(payload.size(), out);
  PutLittleEndian<uint32_t>(Crc32c(payload), out);
  out.append(payload.data(), payload.size());
  return out;
}

absl::Status ValidateModelFile(const ModelFile& model) {
  if (model.has_cell()) GF_RETURN_IF_ERROR(CheckCell(model.cell()));
  GF_RETURN_IF_ERROR(CheckLayers(model));
  GF_RETURN_IF_ERROR(CheckNamedTensors(model.parameters(), "parameter"));
  GF_RETURN_IF_ERROR(CheckVocabulary(model));
  if (model.has_checkpoint()) GF_RETURN_IF_ERROR(CheckCheckpoint(model.checkpoint()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeModelFile(const ModelFile& model) {
  GF_RETURN_IF_ERROR(ValidateModelFile(model));
  if (model.ByteSizeLong() > static_cast<size_t>(INT_MAX) - 16) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the model is ", model.ByteSizeLong(), " bytes; one protobuf message holds under 2 GiB"));
  }
  // Deterministic: map fields in key order, so one model always gives one file.
  std::string payload;
  {
    google::protobuf::io::StringOutputStream raw(&payload);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    if (!model.SerializeToCodedStream(&coded)) {
      return absl::InternalError("protobuf could not serialize the model");
    }
  }
  if (model.format_version() != kModelFormatVersion) {
    // format_version (field 1, varint) appended: for a scalar field that appears
    // twice, protobuf parsers keep the last value. Saves copying the parameters.
    payload.push_back(static_cast<char>(0x08));  // field 1, wire type 0
    for (uint32_t v = kModelFormatVersion; ; v >>= 7) {
      if (v < 0x80) {
        payload.push_back(static_cast<char>(v));
        break;
      }
      payload.push_back(static_cast<char>((v & 0x7f) | 0x80));
    }
  }
  return EncodeModelFileContainer(payload);
}

absl::StatusOr<ModelFile> ParseModelFileBytes(absl::string_view bytes) {
  const size_t size = bytes.size();
  if (absl::string_view(kModelFileMagic, sizeof kModelFileMagic).substr(0, size) !=
      bytes.substr(0, sizeof kModelFileMagic)) {
    return absl::DataLossError("not a gatefuse model file (the magic \"GFMODEL\\0\" is missing)");
  }
  if (size < static_cast<size_t>(kModelFileHeaderSize)) {
    return absl::DataLossError(absl::StrCat("truncated: ", size, " bytes, the header alone is ",
                                            kModelFileHeaderSize));
  }
  const uint32_t version = GetLittleEndian<uint32_t>(bytes, 8);
  if (version == 0) return absl::DataLossError("format version 0 is not a valid version");
  if (version > kModelFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("written by a newer gatefuse (format ", version,
                     ", this binary reads up to ", kModelFormatVersion, ")"));
  }
  const uint64_t length = GetLittleEndian<uint64_t>(bytes, 12);
  const uint64_t available = size - kModelFileHeaderSize;
  if (length > available) {
    return absl::DataLossError(absl::StrCat("truncated: the header declares a ", length,
                                            "-byte payload but only ", available,
                                            " bytes follow it"));
  }
  if (length < available) {
    return absl::DataLossError(absl::StrCat(available - length,
                                            " bytes of trailing data after the declared ",
                                            length, "-byte payload"));
  }
  const absl::string_view payload = bytes.substr(kModelFileHeaderSize);
  const uint32_t stored = GetLittleEndian<uint32_t>(bytes, 20);
  const uint32_t computed = Crc32c(payload);
  if (stored != computed) {
    return absl::DataLossError(absl::StrFormat(
        "checksum mismatch: the header says CRC-32C 0x%08x, the payload has 0x%08x", stored,
        computed));
  }
  if (payload.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the payload is ", payload.size(), " bytes; one protobuf message holds under 2 GiB"));
  }
  ModelFile model;
  if (!model.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("the payload is not a valid ModelFile protobuf message");
  }
  if (model.format_version() != version) {
    return absl::InvalidArgumentError(absl::StrCat("the payload says format ",
                                                   model.format_version(), " but the header says ",
                                                   version));
  }
  GF_RETURN_IF_ERROR(ValidateModelFile(model));
  return model;
}

absl::Status SaveModelFile(const ModelFile& model, const std::string& path,
                           const SaveModelFileOptions& options) {
  GF_ASSIGN_OR_RETURN(const std::string bytes, SerializeModelFile(model));
  const std::string temp = TempPath(path);
  bool created = false;
  absl::Status status = WriteAndSync(temp, bytes, created);
  if (status.ok() && options.before_rename_for_testing) {
    status = options.before_rename_for_testing(temp);
  }
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, absl::StrCat("cannot rename ", temp, " to"), path);
  }
  if (!status.ok()) {
    if (created) unlink(temp.c_str());
    return status;
  }
  // The rename is durable once the folder's entry is.
  return SyncFolder(Folder(path));
}

absl::StatusOr<ModelFile> LoadModelFile(const std::string& path) {
  // O_NONBLOCK: a FIFO at `path` is refused below instead of blocking the open.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError(errno, "cannot open model file", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoError(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  // The buffer is the real file's size, never a size read from the file.
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoError(err, "cannot read", path);
    }
    if (n == 0) break;  // shrank while reading: the checks below see the short size
    done += static_cast<size_t>(n);
  }
  close(fd);
  bytes.resize(done);
  absl::StatusOr<ModelFile> model = ParseModelFileBytes(bytes);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(path, ": ", model.status().message()));
  }
  return model;
}

// ---- parameters <-> tensors ----

absl::Status TensorsToProtos(const std::map<std::string, Tensor>& tensors,
                             google::protobuf::RepeatedPtrField<TensorProto>* out) {
  google::protobuf::RepeatedPtrField<TensorProto> protos;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) return absl::InvalidArgumentError("a tensor has an empty name");
    GF_ASSIGN_OR_RETURN(*protos.Add(), TensorToProto(t, name));
  }
  out->Swap(&protos);
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, Tensor>> TensorsFromProtos(
    const google::protobuf::RepeatedPtrField<TensorProto>& protos, absl::string_view what) {
  GF_RETURN_IF_ERROR(CheckNamedTensors(protos, what));
  std::map<std::string, Tensor> tensors;
  for (const TensorProto& p : protos) {
    GF_ASSIGN_OR_RETURN(tensors[p.name()],
                        TensorFromProto(p, absl::StrCat(what, " '", p.name(), "'")));
  }
  return tensors;
}

absl::Status SetParameters(const std::map<std::string, Tensor>& params, ModelFile& model) {
  return TensorsToProtos(params, model.mutable_parameters());
}

absl::Status SetParameters(const ParamMap& params, ModelFile& model) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, v] : params) {
    if (!v.defined()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' is undefined"));
    }
    tensors[name] = v.value();
  }
  return SetParameters(tensors, model);
}

absl::StatusOr<std::map<std::string, Tensor>> ParameterTensors(const ModelFile& model) {
  return TensorsFromProtos(model.parameters(), "parameter");
}

absl::StatusOr<ParamMap> ParameterVars(const ModelFile& model, bool requires_grad) {
  GF_ASSIGN_OR_RETURN(auto tensors, ParameterTensors(model));
  ParamMap params;
  for (auto& [name, t] : tensors) params[name] = Var::Leaf(std::move(t), requires_grad, name);
  return params;
}

// ---- description ----

std::string DescribeModelFile(const ModelFile& model) {
  std::string out = absl::StrCat("gatefuse model, format ", model.format_version(), "\n");
  if (model.has_cell()) {
    const CellSourceProto& c = model.cell();
    absl::StrAppend(&out, "cell: ", c.kind().empty() ? "(unnamed)" : c.kind());
    if (!c.sizes().empty()) absl::StrAppend(&out, " (", SortedParams(c.sizes()), ")");
    absl::StrAppend(&out, ", ",
                    c.dtype() == DTYPE_UNSPECIFIED ? "f32" : DTypeString(c.dtype()), "\n");
    if (!c.cell_text().empty()) {
      absl::StrAppend(&out, "  source", c.cell_filename().empty() ? "" : " ", c.cell_filename(),
                      ":\n");
      for (absl::string_view line : absl::StrSplit(c.cell_text(), '\n')) {
        if (!line.empty()) absl::StrAppend(&out, "    ", line, "\n");
      }
    }
    if (c.has_graph()) {
      absl::StrAppend(&out, "  graph ", c.graph().name(), ": ", c.graph().nodes_size(),
                      " nodes, ", c.graph().outputs_size(), " outputs (unfused equations):\n");
      // The file was validated on load, so the graph converts; its text form is
      // the equations as the compiler sees them.
      absl::StatusOr<Graph> g = FromProto(c.graph());
      if (g.ok()) {
        for (absl::string_view line : absl::StrSplit(PrintGraph(*g), '\n')) {
          if (!line.empty()) absl::StrAppend(&out, "    ", line, "\n");
        }
      }
    }
  } else {
    out += "cell: none\n";
  }
  absl::StrAppend(&out, "layers: ", model.layers_size(), "\n");
  for (const LayerConfig& l : model.layers()) {
    std::vector<std::string> params;
    if (!l.int_params().empty()) params.push_back(SortedParams(l.int_params()));
    if (!l.float_params().empty()) params.push_back(SortedParams(l.float_params()));
    if (!l.string_params().empty()) params.push_back(SortedParams(l.string_params()));
    absl::StrAppend(&out, "  ", l.name(), ": ", l.type());
    if (!params.empty()) absl::StrAppend(&out, " {", absl::StrJoin(params, ", "), "}");
    out += "\n";
  }
  int64_t total = 0;
  for (const TensorProto& t : model.parameters()) total += std::max<int64_t>(0, ElementCount(t));
  absl::StrAppend(&out, "parameters: ", model.parameters_size(), " tensors, ", total,
                  " values\n");
  for (const TensorProto& t : model.parameters()) {
    absl::StrAppend(&out, "  ", t.name(), " ", DTypeString(t.dtype()), ShapeString(t.dims()), " ",
                    ElementCount(t), "\n");
  }
  absl::StrAppend(&out, "vocabulary: ", model.vocabulary_size(), " tokens\n");
  if (!model.metadata().empty()) {
    out += "metadata:\n";
    std::map<std::string, std::string> sorted(model.metadata().begin(), model.metadata().end());
    for (const auto& [k, v] : sorted) absl::StrAppend(&out, "  ", k, " = ", v, "\n");
  }
  if (model.has_checkpoint()) {
    const Checkpoint& c = model.checkpoint();
    absl::StrAppend(&out, "checkpoint: step ", c.step(), ", optimizer ",
                    c.optimizer().empty() ? "(none)" : c.optimizer());
    if (!c.optimizer_config().empty()) {
      absl::StrAppend(&out, " {", SortedParams(c.optimizer_config()), "}");
    }
    absl::StrAppend(&out, ", ", c.optimizer_state_size(), " state tensors, rng state ",
                    c.rng_state().size(), " bytes, ", c.metrics_size(), " metric records\n");
    if (c.metrics_size() > 0) {
      const MetricRecord& last = c.metrics(c.metrics_size() - 1);
      absl::StrAppend(&out, "  last metrics: step ", last.step(), " epoch ", last.epoch());
      if (!last.values().empty()) absl::StrAppend(&out, " ", SortedParams(last.values()));
      out += "\n";
    }
  } else {
    out += "checkpoint: none\n";
  }
  return out;
}

}  // namespace gatefuse
