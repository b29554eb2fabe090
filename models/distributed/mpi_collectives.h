// Collectives (models/tasks/collectives.h) on Open MPI, for a run launched by
// mpirun: every rank holds the whole model and the ranks sum gradients with
// MPI_Allreduce. Errors come back as Status (the communicator has
// MPI_ERRORS_RETURN) naming the call; after an error a caller ends every rank with
// Abort, so that no rank waits forever in a collective its peer never makes.
//
//   GF_ASSIGN_OR_RETURN(std::unique_ptr<MpiCollectives> mpi, MpiCollectives::FromEnvironment());
//   if (mpi) options.collectives = mpi.get();   // null: not under mpirun, one process
#ifndef GATEFUSE_MODELS_DISTRIBUTED_MPI_COLLECTIVES_H_
#define GATEFUSE_MODELS_DISTRIBUTED_MPI_COLLECTIVES_H_

#include <memory>
#include <string>
#include <vector>

#include "models/tasks/collectives.h"

namespace gatefuse {

// Whether this process was started by Open MPI's mpirun (its launch environment).
bool LaunchedByMpirun();

class MpiCollectives : public Collectives {
 public:
  // Under mpirun: MPI initialised (once per process), this process's rank of the
  // run. Otherwise null, and MPI is never touched: a single process.
  static absl::StatusOr<std::unique_ptr<MpiCollectives>> FromEnvironment();
  ~MpiCollectives() override;  // MPI_Finalize
  MpiCollectives(const MpiCollectives&) = delete;
  MpiCollectives& operator=(const MpiCollectives&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // How many ranks run on this machine (Open MPI's local size).
  int local_size() const { return local_size_; }
  absl::Status SumFloats(absl::Span<float> values) override;
  absl::Status SumDoubles(absl::Span<double> values) override;
  absl::Status BroadcastFloats(absl::Span<float> values) override;
  absl::Status BroadcastBytes(std::string& bytes) override;
  absl::StatusOr<std::vector<uint64_t>> GatherAll(uint64_t value) override;

  // OK when every rank passed the same text; otherwise, on every rank,
  // InvalidArgument naming the ranks whose `what` differs from rank 0's.
  absl::Status CheckSame(const std::string& text, const std::string& what);
  // Ends every rank of the run with `code` (MPI_Abort).
  [[noreturn]] void Abort(int code);

 private:
  MpiCollectives() = default;
  int rank_ = 0, size_ = 1, local_size_ = 1;
  void* comm_ = nullptr;  // the duplicated MPI_Comm (an opaque pointer in Open MPI)
};

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_DISTRIBUTED_MPI_COLLECTIVES_H_
