// gatefuse eval | predict | inspect: the model files `gatefuse train --out` writes,
// loaded, checked and used.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "models/data/batching.h"
#include "models/data/tokenizer.h"
#include "models/data/vocabulary.h"
#include "models/io/model_file.h"
#include "models/onnx/network.h"
#include "models/tasks/task_model.h"
#include "ops/ops.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/run_settings.h"

namespace gatefuse::cli {
namespace {

struct Loaded {
  ModelFile file;
  Settings settings;
  RunConfig config;
  std::optional<TaskModel> model;
};

absl::Status LoadSaved(const std::string& path, Loaded& l) {
  GF_ASSIGN_OR_RETURN(l.file, LoadModelFile(path));
  GF_ASSIGN_OR_RETURN(l.settings, StoredSettings(l.file, path));
  GF_ASSIGN_OR_RETURN(l.config, Resolve(l.settings));
  GF_ASSIGN_OR_RETURN(l.model, TaskModel::FromModelFile(l.file));
  return absl::OkStatus();
}

absl::Status EvalSaved(const Loaded& l) {
  GF_ASSIGN_OR_RETURN(TaskData data, LoadData(l.config));
  GF_RETURN_IF_ERROR(CheckVocabulary(l.file, data));
  GF_ASSIGN_OR_RETURN(Evaluation e, EvaluateTest(*l.model, data));
  GF_ASSIGN_OR_RETURN(double baseline, data.Baseline());
  std::printf("fused kernel: %s\n", l.model->fusion().c_str());
  for (const std::string& line : l.model->PathLines()) std::printf("%s\n", line.c_str());
  std::printf("test: %lld examples, loss %.4f\n", static_cast<long long>(e.examples), e.loss);
  std::printf("final: %s=%.4f baseline=%.4f\n", MetricName(l.config.model.task).c_str(), e.metric,
              baseline);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<double, std::string>>> TopWords(const Tensor& logits,
                                                                     const Vocabulary& vocab,
                                                                     int64_t k) {
  GF_ASSIGN_OR_RETURN(Var probs, Softmax(Var::Constant(logits), -1));
  std::vector<std::pair<double, std::string>> ranked;
  for (int64_t id = 2; id < vocab.size(); ++id) {  // never <pad> or <unk>
    ranked.push_back({probs.value().At(id), vocab.tokens()[id]});
  }
  k = std::min<int64_t>(k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  ranked.resize(k);
  return ranked;
}

absl::Status PredictText(const Loaded& l, const std::string& text, int64_t top) {
  const Task task = l.config.model.task;
  if (task == Task::kAdding) {
    return absl::InvalidArgumentError("predict --text works for sentiment and lm models");
  }
  GF_ASSIGN_OR_RETURN(Vocabulary vocab,
                      Vocabulary::FromTokens(std::vector<std::string>(l.file.vocabulary().begin(),
                                                                      l.file.vocabulary().end())));
  const std::vector<int64_t> ids = vocab.Encode(Tokenize(text));
  if (ids.empty()) return absl::InvalidArgumentError("--text has no words");
  GF_ASSIGN_OR_RETURN(PaddedSequences padded, PadSequences({ids}, l.config.T));
  NoGradGuard no_grad;
  GF_ASSIGN_OR_RETURN(Var out,
                      l.model->Forward({padded.ids, LengthsTensor(padded.lengths)}, false, 0));
  if (task == Task::kSentiment) {
    const double p = 1.0 / (1.0 + std::exp(-out.value().At(0)));
    std::printf("probability %.4f  label %d (%s)\n", p, p > 0.5 ? 1 : 0, p > 0.5 ? "good" : "bad");
    return absl::OkStatus();
  }
  GF_ASSIGN_OR_RETURN(auto words, TopWords(out.value(), vocab, top));
  std::printf("next word:");
  for (const auto& [p, w] : words) std::printf("  %s %.4f", w.c_str(), p);
  std::printf("\n");
  return absl::OkStatus();
}

// Parses `argv`, which must name --model, and loads the model: 0, or the exit status.
int ParseAndLoad(const char* command, const std::vector<std::string>& argv,
                 const std::set<std::string>& valued, Args& args, Loaded& l) {
  absl::StatusOr<Args> parsed = ParseArgs(argv, valued, {});
  absl::Status st = parsed.status();
  if (st.ok() && !parsed->positionals.empty()) {
    st = absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", parsed->positionals[0], "'"));
  }
  if (st.ok() && !parsed->Has("model")) st = absl::InvalidArgumentError("needs --model MODEL");
  if (st.ok()) {
    args = *parsed;
    st = LoadSaved(args.Get("model", ""), l);
  }
  return st.ok() ? 0 : Fail(command, kUsage, st);
}

}  // namespace

int Eval(const std::vector<std::string>& argv) {
  Args args;
  Loaded l;
  if (int rc = ParseAndLoad("eval", argv, {"model"}, args, l); rc != 0) return rc;
  if (absl::Status st = EvalSaved(l); !st.ok()) return Fail("eval", kFailed, st);
  return 0;
}

int Predict(const std::vector<std::string>& argv) {
  Args args;
  Loaded l;
  if (int rc = ParseAndLoad("predict", argv, {"model", "text", "top"}, args, l); rc != 0) {
    return rc;
  }
  absl::StatusOr<int64_t> top = args.GetInt("top", 5);
  absl::Status st = !args.Has("text") ? absl::InvalidArgumentError("needs --text \"...\"")
                    : !top.ok() || *top < 1
                        ? absl::InvalidArgumentError("--top takes an integer >= 1")
                        : PredictText(l, args.Get("text", ""), *top);
  return st.ok() ? 0 : Fail("predict", kUsage, st);
}

int Inspect(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = ParseArgs(argv, {}, {});
  if (!args.ok()) return Fail("inspect", kUsage, args.status());
  if (args->positionals.size() != 1) {
    return Fail("inspect", kUsage, absl::InvalidArgumentError("usage: gatefuse inspect MODEL"));
  }
  absl::StatusOr<ModelFile> file = LoadModelFile(args->positionals[0]);
  if (!file.ok()) return Fail("inspect", kFailed, file.status());
  std::printf("%s", DescribeModelFile(*file).c_str());
  if (file->has_network()) {
    absl::StatusOr<Network> net = Network::FromModelFile(*file);
    if (!net.ok()) return Fail("inspect", kFailed, net.status());
    std::printf("on load:\n");
    for (const std::string& line : net->PathLines()) std::printf("  %s\n", line.c_str());
    return 0;
  }
  absl::StatusOr<TaskModel> model = TaskModel::FromModelFile(*file);
  if (model.ok()) {
    std::printf("fused kernel on load: %s\n", model->fusion().c_str());
    for (const std::string& line : model->PathLines()) std::printf("%s\n", line.c_str());
  } else {
    std::printf("fused kernel on load: (not a task model: %s)\n",
                std::string(model.status().message()).c_str());
  }
  return 0;
}

}  // namespace gatefuse::cli
