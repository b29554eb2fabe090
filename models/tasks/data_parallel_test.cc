// The data-parallel trainer (trainer.h, TrainOptions::collectives) without MPI: ranks
// as threads of one process, each with its own model and tape, exchanging through
// shared memory (ThreadCollectives). The same logic runs under mpirun in
// tests/distributed_test.sh.
#include <cmath>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/status.h"
#include "models/tasks/toy_sentiment_testing.h"
#include "models/tasks/trainer.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

// N ranks meeting at barriers; each collective call deposits its buffer, waits
// for all, reads them in rank order (so every rank computes the same sums), and
// waits again before anyone reuses a buffer.
class ThreadGroup {
 public:
  explicit ThreadGroup(int n) : n_(n), slots_(n), values_(n) {}
  int size() const { return n_; }

  void Barrier() {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t generation = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
  }

  template <typename T>
  void Sum(int rank, absl::Span<T> values) {
    slots_[rank] = values.data();
    Barrier();
    std::vector<T> sum(values.size(), T(0));
    for (int r = 0; r < n_; ++r) {
      const T* v = static_cast<const T*>(slots_[r]);
      for (size_t i = 0; i < values.size(); ++i) sum[i] += v[i];
    }
    Barrier();
    std::copy(sum.begin(), sum.end(), values.begin());
  }

  template <typename T>
  void Broadcast(int rank, T* data, size_t n) {
    slots_[rank] = data;
    Barrier();
    if (rank != 0) std::copy_n(static_cast<const T*>(slots_[0]), n, data);
    Barrier();
  }

  std::vector<uint64_t> Gather(int rank, uint64_t value) {
    values_[rank] = value;
    Barrier();
    std::vector<uint64_t> all = values_;
    Barrier();
    return all;
  }

 private:
  const int n_;
  std::vector<void*> slots_;
  std::vector<uint64_t> values_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t generation_ = 0;
};

class ThreadCollectives : public Collectives {
 public:
  ThreadCollectives(ThreadGroup* group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  absl::Status SumFloats(absl::Span<float> v) override {
    group_->Sum(rank_, v);
    return absl::OkStatus();
  }
  absl::Status SumDoubles(absl::Span<double> v) override {
    group_->Sum(rank_, v);
    return absl::OkStatus();
  }
  absl::Status BroadcastFloats(absl::Span<float> v) override {
    group_->Broadcast(rank_, v.data(), v.size());
    return absl::OkStatus();
  }
  absl::Status BroadcastBytes(std::string& bytes) override {
    uint64_t n = bytes.size();
    group_->Broadcast(rank_, &n, 1);
    bytes.resize(n);
    group_->Broadcast(rank_, bytes.data(), n);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<uint64_t>> GatherAll(uint64_t value) override {
    return group_->Gather(rank_, value);
  }

 private:
  ThreadGroup* group_;
  int rank_;
};

ModelConfig Config(uint64_t seed, double dropout) {
  ModelConfig c;
  c.task = Task::kSentiment;
  c.cell = *CellSpecFromFlag("lstm");
  c.vocab_size = 6;
  c.embed = 4;
  c.hidden = 5;
  c.dropout = dropout;
  c.seed = seed;
  return c;
}

// 25 training examples in batches of 8: the last batch of 1 leaves rank 0 of 2 none.
TaskData ToyData() { return *TaskData::Text(Task::kSentiment, ToySentiment(34), 8); }
TrainOptions Options() { return {.epochs = 2, .batch = 8, .seed = 3, .lr = {.lr = 0.02}}; }

std::vector<std::vector<double>> Values(const TaskModel& m) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, v] : m.params()) out.push_back(v.value().ToVector());
  return out;
}

// ||a - b|| / ||b|| over all parameters.
double RelativeDifference(const std::vector<std::vector<double>>& a,
                          const std::vector<std::vector<double>>& b) {
  double d2 = 0, n2 = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    for (size_t i = 0; i < a[k].size(); ++i) {
      d2 += (a[k][i] - b[k][i]) * (a[k][i] - b[k][i]);
      n2 += b[k][i] * b[k][i];
    }
  }
  return std::sqrt(d2 / n2);
}

struct RankResult {
  absl::Status status;
  Evaluation test;
  std::vector<EpochMetrics> history;
};

// Trains models[r] as rank r of models.size(), each on a thread of its own with its
// own data (as processes have theirs: TaskData caches an epoch's order), replicas
// verified after every step; then evaluates the test set.
std::vector<RankResult> TrainAsRanks(
    std::vector<TaskModel>& models,
    const std::function<std::unique_ptr<Collectives>(int rank)>& collectives) {
  std::vector<RankResult> results(models.size());
  std::vector<std::thread> ranks;
  for (int r = 0; r < static_cast<int>(models.size()); ++r) {
    ranks.emplace_back([&, r] {
      const TaskData own = ToyData();
      std::unique_ptr<Collectives> c = collectives(r);
      TrainOptions options = Options();
      options.collectives = c.get();
      options.verify_replicas = true;
      Trainer trainer(models[r], own, options);
      RankResult& out = results[r];
      out.status = trainer.Run();
      out.history = trainer.history();
      if (!out.status.ok()) return;
      absl::StatusOr<Evaluation> e = trainer.EvaluateTestSet();
      out.status = e.status();
      if (e.ok()) out.test = *e;
    });
  }
  for (std::thread& t : ranks) t.join();
  return results;
}

TEST(DataParallelTest, OneRankTakesExactlyTheSingleProcessSteps) {
  const TaskData data = ToyData();
  TaskModel single = *TaskModel::Create(Config(11, 0.1));
  Trainer a(single, data, Options());
  ASSERT_TRUE(a.Run().ok());
  ThreadGroup group(1);
  ThreadCollectives c(&group, 0);
  TaskModel parallel = *TaskModel::Create(Config(11, 0.1));
  TrainOptions options = Options();
  options.collectives = &c;
  options.verify_replicas = true;
  Trainer b(parallel, data, options);
  ASSERT_TRUE(b.Run().ok());
  EXPECT_EQ(Values(single), Values(parallel));  // bit for bit, dropout included
  EXPECT_EQ(b.parallel_stats().steps, a.step());
  EXPECT_GT(b.parallel_stats().bytes_per_step, 0);
}

// Two ranks, rank 1's model initialised from another seed (the trainer broadcasts
// rank 0's), the last batch all on rank 1: every rank ends with the same parameters,
// bit for bit, and within 1e-5 of one process's (the order of summation differs).
TEST(DataParallelTest, TwoRanksMatchOneProcess) {
  const TaskData data = ToyData();
  TaskModel single = *TaskModel::Create(Config(11, 0));
  Trainer one(single, data, Options());
  ASSERT_TRUE(one.Run().ok());
  absl::StatusOr<Evaluation> single_test = one.EvaluateTestSet();
  ASSERT_TRUE(single_test.ok());

  ThreadGroup group(2);
  std::vector<TaskModel> models = {*TaskModel::Create(Config(11, 0)),
                                   *TaskModel::Create(Config(99, 0))};
  ASSERT_NE(Values(models[0]), Values(models[1]));
  const std::vector<RankResult> result =
      TrainAsRanks(models, [&](int r) { return std::make_unique<ThreadCollectives>(&group, r); });
  std::vector<absl::Status> status = {result[0].status, result[1].status};
  std::vector<Evaluation> test = {result[0].test, result[1].test};
  std::vector<std::vector<EpochMetrics>> history = {result[0].history, result[1].history};
  ASSERT_TRUE(status[0].ok()) << status[0];
  ASSERT_TRUE(status[1].ok()) << status[1];
  EXPECT_EQ(Values(models[0]), Values(models[1]));
  const double rel = RelativeDifference(Values(models[0]), Values(single));
  EXPECT_LE(rel, 1e-5);
  EXPECT_GT(rel, 0) << "the shards' sums differ in order; exactly equal would be a surprise";
  // The sharded evaluation is the whole test set's, the same on both ranks.
  EXPECT_EQ(test[0].examples, single_test->examples);
  EXPECT_EQ(test[0].loss, test[1].loss);
  EXPECT_NEAR(test[0].loss, single_test->loss, 1e-5);
  ASSERT_EQ(history[0].size(), 2u);
  EXPECT_EQ(history[0][0].train.examples, 25) << "the epoch's metrics count every rank's examples";
  EXPECT_NEAR(history[0][1].train.loss, one.history()[1].train.loss, 1e-5);
}

class LyingCollectives : public ThreadCollectives {
 public:
  using ThreadCollectives::ThreadCollectives;
  absl::StatusOr<std::vector<uint64_t>> GatherAll(uint64_t value) override {
    GF_ASSIGN_OR_RETURN(std::vector<uint64_t> all, ThreadCollectives::GatherAll(value));
    all[1] ^= 1;  // as if rank 1's parameters had drifted
    return all;
  }
};

TEST(DataParallelTest, ReplicasThatDriftApartAreNamed) {
  ThreadGroup group(2);
  std::vector<TaskModel> models = {*TaskModel::Create(Config(11, 0)),
                                   *TaskModel::Create(Config(11, 0))};
  const std::vector<RankResult> result =
      TrainAsRanks(models, [&](int r) { return std::make_unique<LyingCollectives>(&group, r); });
  const std::vector<absl::Status> status = {result[0].status, result[1].status};
  for (const absl::Status& st : status) {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(st.message(),
                HasSubstr("replicas diverged after step 1: the parameters of rank(s) 1 differ "
                          "from rank 0's"));
  }
}

}  // namespace
}  // namespace gatefuse
