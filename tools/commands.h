// The gatefuse commands; each takes the arguments after its name and returns the
// process exit status (0 success, 1 a check failed, 2 a usage error).
#ifndef GATEFUSE_TOOLS_COMMANDS_H_
#define GATEFUSE_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

namespace gatefuse::cli {

int Refcheck(const std::vector<std::string>& argv);
int Compile(const std::vector<std::string>& argv);
// tools/train_command.cc (Train), tools/model_commands.cc (the others)
int Train(const std::vector<std::string>& argv);
int Eval(const std::vector<std::string>& argv);
int Predict(const std::vector<std::string>& argv);
int Inspect(const std::vector<std::string>& argv);
int Bench(const std::vector<std::string>& argv);
int Plot(const std::vector<std::string>& argv);
// tools/onnx_commands.cc
int Import(const std::vector<std::string>& argv);
int Run(const std::vector<std::string>& argv);
int OnnxTest(const std::vector<std::string>& argv);
// tools/export_command.cc
int Export(const std::vector<std::string>& argv);

}  // namespace gatefuse::cli

#endif  // GATEFUSE_TOOLS_COMMANDS_H_
