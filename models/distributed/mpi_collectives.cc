#include "models/distributed/mpi_collectives.h"

#include <openmpi/mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/hash.h"
#include "core/status.h"

namespace gatefuse {
namespace {

MPI_Comm Comm(void* c) { return static_cast<MPI_Comm>(c); }

absl::Status Check(int code, const char* call) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::UnavailableError(absl::StrCat(call, " failed: ", std::string(text, length)));
}

// MPI counts are ints: a longer buffer goes in pieces.
template <typename T, typename F>
absl::Status InPieces(T* data, size_t n, F call) {
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t start = 0; start < n; start += kPiece) {
    GF_RETURN_IF_ERROR(call(data + start, static_cast<int>(std::min(kPiece, n - start))));
  }
  return absl::OkStatus();
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int out;
  return v != nullptr && absl::SimpleAtoi(v, &out) ? out : fallback;
}

}  // namespace

bool LaunchedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

absl::StatusOr<std::unique_ptr<MpiCollectives>> MpiCollectives::FromEnvironment() {
  if (!LaunchedByMpirun()) return std::unique_ptr<MpiCollectives>();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return absl::FailedPreconditionError("MPI is already initialised in this process");
  // Only the main thread calls MPI; OpenMP's threads compute between the calls.
  int provided = 0;
  GF_RETURN_IF_ERROR(Check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
                           "MPI_Init_thread"));
  std::unique_ptr<MpiCollectives> c(new MpiCollectives());
  MPI_Comm comm;
  GF_RETURN_IF_ERROR(Check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup"));
  c->comm_ = comm;
  GF_RETURN_IF_ERROR(Check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"));
  GF_RETURN_IF_ERROR(Check(MPI_Comm_rank(comm, &c->rank_), "MPI_Comm_rank"));
  GF_RETURN_IF_ERROR(Check(MPI_Comm_size(comm, &c->size_), "MPI_Comm_size"));
  c->local_size_ = std::max(1, EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", 1));
  return c;
}

MpiCollectives::~MpiCollectives() {
  if (comm_ != nullptr) {
    MPI_Comm comm = Comm(comm_);
    MPI_Comm_free(&comm);
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

absl::Status MpiCollectives::SumFloats(absl::Span<float> values) {
  return InPieces(values.data(), values.size(), [&](float* p, int n) {
    return Check(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_FLOAT, MPI_SUM, Comm(comm_)),
                 "MPI_Allreduce");
  });
}

absl::Status MpiCollectives::SumDoubles(absl::Span<double> values) {
  return InPieces(values.data(), values.size(), [&](double* p, int n) {
    return Check(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_SUM, Comm(comm_)),
                 "MPI_Allreduce");
  });
}

absl::Status MpiCollectives::BroadcastFloats(absl::Span<float> values) {
  uint64_t n = values.size();
  GF_ASSIGN_OR_RETURN(const std::vector<uint64_t> sizes, GatherAll(n));
  for (size_t r = 1; r < sizes.size(); ++r) {
    if (sizes[r] != sizes[0]) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", r, " holds ", sizes[r],
                                                     " values to broadcast, rank 0 ", sizes[0]));
    }
  }
  return InPieces(values.data(), values.size(), [&](float* p, int k) {
    return Check(MPI_Bcast(p, k, MPI_FLOAT, 0, Comm(comm_)), "MPI_Bcast");
  });
}

absl::Status MpiCollectives::BroadcastBytes(std::string& bytes) {
  uint64_t n = bytes.size();
  GF_RETURN_IF_ERROR(Check(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, Comm(comm_)), "MPI_Bcast"));
  bytes.resize(n);
  return InPieces(bytes.data(), bytes.size(), [&](char* p, int k) {
    return Check(MPI_Bcast(p, k, MPI_CHAR, 0, Comm(comm_)), "MPI_Bcast");
  });
}

absl::StatusOr<std::vector<uint64_t>> MpiCollectives::GatherAll(uint64_t value) {
  std::vector<uint64_t> all(size_);
  GF_RETURN_IF_ERROR(Check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T,
                                         Comm(comm_)),
                           "MPI_Allgather"));
  return all;
}

absl::Status MpiCollectives::CheckSame(const std::string& text, const std::string& what) {
  GF_ASSIGN_OR_RETURN(const std::vector<uint64_t> all, GatherAll(Fnv1a(text)));
  const std::string differing = RanksUnlikeRankZero(all);
  if (differing.empty()) return absl::OkStatus();
  std::string message = absl::StrCat("the ranks disagree: ", what, " of rank(s) ", differing,
                                     " differ from rank 0's");
  // A differing rank names its first line that rank 0 does not have.
  std::string first = text;
  GF_RETURN_IF_ERROR(BroadcastBytes(first));
  if (all[rank_] != all[0]) {
    const std::vector<std::string> mine = absl::StrSplit(text, '\n');
    const std::vector<std::string> theirs = absl::StrSplit(first, '\n');
    for (size_t k = 0; k < mine.size(); ++k) {
      if (k < theirs.size() && mine[k] == theirs[k]) continue;
      absl::StrAppend(&message, "; here (rank ", rank_, "): '", mine[k], "', rank 0: '",
                      k < theirs.size() ? theirs[k] : "", "'");
      break;
    }
  }
  return absl::InvalidArgumentError(message);
}

void MpiCollectives::Abort(int code) {
  MPI_Abort(comm_ != nullptr ? Comm(comm_) : MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; if it did, this rank still ends
}

}  // namespace gatefuse
