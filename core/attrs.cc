#include "core/attrs.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace gatefuse {
namespace {

template <typename T>
absl::StatusOr<T> Get(const std::map<std::string, AttrValue>& values, absl::string_view op,
                      const std::string& name, absl::string_view type) {
  auto it = values.find(name);
  if (it == values.end()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": missing attribute '", name, "'"));
  }
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": attribute '", name, "' must be of type ", type));
}

}  // namespace

absl::StatusOr<int64_t> Attrs::GetInt(absl::string_view op, const std::string& name) const {
  return Get<int64_t>(values_, op, name, "int");
}
absl::StatusOr<double> Attrs::GetFloat(absl::string_view op, const std::string& name) const {
  return Get<double>(values_, op, name, "float");
}
absl::StatusOr<std::vector<int64_t>> Attrs::GetInts(absl::string_view op,
                                                   const std::string& name) const {
  return Get<std::vector<int64_t>>(values_, op, name, "int list");
}
absl::StatusOr<std::string> Attrs::GetString(absl::string_view op, const std::string& name) const {
  return Get<std::string>(values_, op, name, "string");
}

std::string Attrs::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [name, v] : values_) {
    std::string s;
    if (auto* i = std::get_if<int64_t>(&v)) s = absl::StrCat(*i);
    if (auto* d = std::get_if<double>(&v)) s = absl::StrFormat("%.17g", *d);
    if (auto* l = std::get_if<std::vector<int64_t>>(&v)) s = absl::StrCat("[", absl::StrJoin(*l, ","), "]");
    if (auto* t = std::get_if<std::string>(&v)) s = absl::StrCat("\"", *t, "\"");
    parts.push_back(absl::StrCat(name, "=", s));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace gatefuse
