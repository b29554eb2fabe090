"""The module layering, enforced by Bazel's visibility.

Dependencies point down this list only: core -> ops -> graph -> passes -> models -> tools.
Inside models/: cells and data at the bottom, nn and io above them, then tasks, and on
top onnx, distributed and embeddings. tests/ (cross-module tests) may use anything.
Each package sets `package(default_visibility = VISIBLE_TO_<ITSELF>)`, so a target that
depends on a package above its own fails to build with a visibility error.

The layering is gatefuse's own: when gatefuse is an external repository of another
project (examples/custom_cell), every target is public to that project. gatefuse's own
build checks the same BUILD files with the layering.
"""

# "" in gatefuse's own build, "external/<name>" when another workspace is the main one.
_EXTERNAL = Label("//:layering.bzl").workspace_root != ""

def _visible_to(packages):
    return ["//visibility:public"] if _EXTERNAL else packages

_TOP = ["//tools:__subpackages__", "//tests:__subpackages__"]
_MODELS_TOP = [
    "//models/onnx:__subpackages__",
    "//models/distributed:__subpackages__",
    "//models/embeddings:__subpackages__",
] + _TOP
_MODELS_TASKS = ["//models/tasks:__subpackages__"] + _MODELS_TOP
_MODELS_MIDDLE = [
    "//models/nn:__subpackages__",
    "//models/io:__subpackages__",
] + _MODELS_TASKS
_MODELS = ["//models:__subpackages__"] + _TOP

_PASSES = ["//passes:__subpackages__"] + _MODELS
_GRAPH = ["//graph:__subpackages__"] + _PASSES

VISIBLE_TO_TOOLS = _visible_to(_TOP)
VISIBLE_TO_MODELS_TASKS = _visible_to(_MODELS_TASKS)
VISIBLE_TO_MODELS_MIDDLE = _visible_to(_MODELS_MIDDLE)
VISIBLE_TO_MODELS = _visible_to(_MODELS)
VISIBLE_TO_PASSES = _visible_to(_PASSES)
VISIBLE_TO_GRAPH = _visible_to(_GRAPH)
VISIBLE_TO_OPS = _visible_to(["//ops:__subpackages__"] + _GRAPH)
