"""The module layering, enforced by Bazel's visibility.

Dependencies point down this list only: core -> ops -> graph -> passes -> models -> tools.
Inside models/: cells and data at the bottom, nn and io above them, then tasks, and on
top onnx, distributed and embeddings. tests/ (cross-module tests) may use anything.
Each package sets `package(default_visibility = VISIBLE_TO_<ITSELF>)`, so a target that
depends on a package above its own fails to build with a visibility error.
"""

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

VISIBLE_TO_TOOLS = _TOP
VISIBLE_TO_MODELS_TASKS = _MODELS_TASKS
VISIBLE_TO_MODELS_MIDDLE = _MODELS_MIDDLE
VISIBLE_TO_MODELS = _MODELS
VISIBLE_TO_PASSES = ["//passes:__subpackages__"] + _MODELS
VISIBLE_TO_GRAPH = ["//graph:__subpackages__"] + VISIBLE_TO_PASSES
VISIBLE_TO_OPS = ["//ops:__subpackages__"] + VISIBLE_TO_GRAPH
