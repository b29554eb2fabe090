#include "models/onnx/node_attrs.h"

#include "absl/strings/str_cat.h"

namespace gatefuse {
namespace {

const char* KindName(NetworkAttributeProto::Kind k) {
  switch (k) {
    case NetworkAttributeProto::INT: return "an int";
    case NetworkAttributeProto::FLOAT: return "a float";
    case NetworkAttributeProto::STRING: return "a string";
    case NetworkAttributeProto::INTS: return "a list of ints";
    case NetworkAttributeProto::FLOATS: return "a list of floats";
    case NetworkAttributeProto::STRINGS: return "a list of strings";
    case NetworkAttributeProto::TENSOR: return "a tensor";
    case NetworkAttributeProto::GRAPH: return "a graph";
    default: return "of no kind";
  }
}

}  // namespace

std::string NodeAttrs::Where() const {
  return absl::StrCat(node_.op(), " node '", node_.name(), "'");
}

const NetworkAttributeProto* NodeAttrs::Find(const std::string& name) const {
  for (const NetworkAttributeProto& a : node_.attributes()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

absl::StatusOr<const NetworkAttributeProto*> NodeAttrs::Get(
    const std::string& name, NetworkAttributeProto::Kind kind) const {
  read_.insert(name);
  const NetworkAttributeProto* a = Find(name);
  if (a != nullptr && a->kind() != kind) {
    return absl::InvalidArgumentError(absl::StrCat(Where(), ": attribute '", name, "' is ",
                                                   KindName(a->kind()), ", expected ",
                                                   KindName(kind)));
  }
  return a;
}

absl::StatusOr<int64_t> NodeAttrs::Int(const std::string& name, int64_t fallback) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::INT);
  if (!a.ok()) return a.status();
  return *a ? (*a)->i() : fallback;
}

absl::StatusOr<double> NodeAttrs::Float(const std::string& name, double fallback) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::FLOAT);
  if (!a.ok()) return a.status();
  return *a ? (*a)->f() : fallback;
}

absl::StatusOr<std::string> NodeAttrs::String(const std::string& name,
                                              const std::string& fallback) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::STRING);
  if (!a.ok()) return a.status();
  return *a ? (*a)->s() : fallback;
}

absl::StatusOr<std::vector<int64_t>> NodeAttrs::Ints(const std::string& name) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::INTS);
  if (!a.ok()) return a.status();
  if (!*a) return std::vector<int64_t>{};
  return std::vector<int64_t>((*a)->ints().begin(), (*a)->ints().end());
}

absl::StatusOr<std::vector<double>> NodeAttrs::Floats(const std::string& name) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::FLOATS);
  if (!a.ok()) return a.status();
  if (!*a) return std::vector<double>{};
  return std::vector<double>((*a)->floats().begin(), (*a)->floats().end());
}

absl::StatusOr<std::vector<std::string>> NodeAttrs::Strings(const std::string& name) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::STRINGS);
  if (!a.ok()) return a.status();
  if (!*a) return std::vector<std::string>{};
  return std::vector<std::string>((*a)->strings().begin(), (*a)->strings().end());
}

absl::StatusOr<const TensorProto*> NodeAttrs::TensorAttr(const std::string& name) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::TENSOR);
  if (!a.ok()) return a.status();
  return *a ? &(*a)->t() : nullptr;
}

absl::StatusOr<const NetworkProto*> NodeAttrs::Graph(const std::string& name) const {
  absl::StatusOr<const NetworkAttributeProto*> a = Get(name, NetworkAttributeProto::GRAPH);
  if (!a.ok()) return a.status();
  return *a ? &(*a)->g() : nullptr;
}

absl::Status NodeAttrs::CheckAllRead() const {
  for (const NetworkAttributeProto& a : node_.attributes()) {
    if (!read_.count(a.name())) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(), ": attribute '", a.name(), "' is not supported by gatefuse's ", node_.op()));
    }
  }
  return absl::OkStatus();
}

}  // namespace gatefuse
