"""The repositories gatefuse's build needs, all of them local: no step downloads anything.

gatefuse's own WORKSPACE calls gatefuse_repositories(), and so does the WORKSPACE of a
project that uses gatefuse as an external repository:

    local_repository(name = "gatefuse", path = "/path/to/gatefuse")
    load("@gatefuse//:repositories.bzl", "gatefuse_repositories")
    gatefuse_repositories()

The rules are Debian's bazel-bootstrap-source stand-ins (what Bazel 4 would otherwise
download); the libraries themselves are Debian -dev packages linked with linkopts
(third_party/BUILD). A repository the calling WORKSPACE has already defined is left
as it is.
"""

BOOTSTRAP = "/usr/src/bazel-bootstrap/mock_repos/"

_BOOTSTRAP_REPOSITORIES = [
    "rules_cc",
    "rules_java",
    "rules_proto",
    "platforms",
    "bazel_skylib",
    "remote_java_tools_linux",
]

def _coverage_tools_impl(ctx):
    # The stand-in's BUILD file, found through gatefuse's label so that the path is
    # right wherever gatefuse is checked out and whichever workspace is the main one.
    ctx.symlink(ctx.path(Label("//third_party/coverage_tools:BUILD")), "BUILD")

# `bazel test` references @remote_coverage_tools even when coverage is not collected.
_coverage_tools = repository_rule(implementation = _coverage_tools_impl, local = True)

def gatefuse_repositories():
    for name in _BOOTSTRAP_REPOSITORIES:
        if not native.existing_rule(name):
            native.local_repository(name = name, path = BOOTSTRAP + name)
    if not native.existing_rule("remote_coverage_tools"):
        _coverage_tools(name = "remote_coverage_tools")
