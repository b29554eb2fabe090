// The gatefuse command line.
//
//   gatefuse refcheck --path tape FILE...
//   gatefuse compile --cell KIND --size I=<n>,H=<n> [--dump-after PASS|all] [--dot FILE]
#include <cstdio>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: gatefuse <command> [flags]\n"
    "commands:\n"
    "  refcheck --path tape FILE...\n"
    "      rebuild each reference file's cell from generic ops, run it forward and backward\n"
    "      in f64, and compare every output and gradient (OK at max_rel_err <= 1e-9)\n"
    "  compile --cell KIND --size I=<n>,H=<n> [--dump-after PASS|all] [--dot FILE]\n"
    "      trace a builtin cell, run the compiler's passes, print each pass (time,\n"
    "      changed or not) and the final graph; --dot writes it for Graphviz\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "refcheck") return gatefuse::cli::Refcheck(rest);
  if (command == "compile") return gatefuse::cli::Compile(rest);
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "gatefuse: unknown command '%s'\n%s", command.c_str(), kUsage);
  return 2;
}
