// Status helpers: the two propagation macros every public API uses.
//
//   GF_RETURN_IF_ERROR(Verify(g));          // returns the error, if any
//   GF_ASSIGN_OR_RETURN(Tensor t, Load(p)); // declares t, or returns the error
//
// (The installed Abseil predates absl/status/status_macros.h.)
#ifndef GATEFUSE_CORE_STATUS_H_
#define GATEFUSE_CORE_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GF_STATUS_CONCAT_INNER(a, b) a##b
#define GF_STATUS_CONCAT(a, b) GF_STATUS_CONCAT_INNER(a, b)

#define GF_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    const ::absl::Status gf_status_ = (expr);     \
    if (!gf_status_.ok()) return gf_status_;      \
  } while (0)

#define GF_ASSIGN_OR_RETURN(lhs, expr) \
  GF_ASSIGN_OR_RETURN_IMPL(GF_STATUS_CONCAT(gf_statusor_, __LINE__), lhs, expr)

#define GF_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                             \
  if (!statusor.ok()) return statusor.status();       \
  lhs = std::move(statusor).value()

#endif  // GATEFUSE_CORE_STATUS_H_
