// Command-line arguments of one gatefuse command: `--name value`, `--name=value`,
// bare `--flag`, and positionals. Each command says which flags it knows, so a
// misspelt flag is an error that names it rather than something silently ignored.
#ifndef GATEFUSE_TOOLS_ARGS_H_
#define GATEFUSE_TOOLS_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gatefuse::cli {

struct Args {
  std::map<std::string, std::string> flags;  // bare flags map to ""
  std::vector<std::string> positionals;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
};

// `valued` flags take a value; `bare` flags do not.
absl::StatusOr<Args> ParseArgs(const std::vector<std::string>& argv,
                               const std::set<std::string>& valued,
                               const std::set<std::string>& bare);

}  // namespace gatefuse::cli

#endif  // GATEFUSE_TOOLS_ARGS_H_
