// Attrs: the named, typed attributes of an op application (axis, perm, scalar, ...).
// Ordered by name so that printing and comparing are stable.
#ifndef GATEFUSE_CORE_ATTRS_H_
#define GATEFUSE_CORE_ATTRS_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace gatefuse {

using AttrValue = std::variant<int64_t, double, std::vector<int64_t>, std::string>;

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : values_(init) {}

  Attrs& Set(const std::string& name, AttrValue v) {
    values_[name] = std::move(v);
    return *this;
  }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }

  // Each getter returns InvalidArgument naming `op` and the attribute when it is
  // missing or of another type.
  absl::StatusOr<int64_t> GetInt(absl::string_view op, const std::string& name) const;
  absl::StatusOr<double> GetFloat(absl::string_view op, const std::string& name) const;
  absl::StatusOr<std::vector<int64_t>> GetInts(absl::string_view op, const std::string& name) const;
  absl::StatusOr<std::string> GetString(absl::string_view op, const std::string& name) const;

  const std::map<std::string, AttrValue>& values() const { return values_; }
  bool operator==(const Attrs& o) const { return values_ == o.values_; }
  // "axis=1, perm=[1,0]"
  std::string ToString() const;

 private:
  std::map<std::string, AttrValue> values_;
};

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_ATTRS_H_
