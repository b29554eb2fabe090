#!/usr/bin/python3
"""Exports small PyTorch recurrent models to ONNX in the ONNX backend test layout.

For each model this writes tests/data/onnx/torch/<name>/:
  model.onnx                       torch.onnx.export, opset 14, dynamic time and batch axes
  test_data_set_0/input_N.pb       the inputs, onnx TensorProtos named after graph.input[N]
  test_data_set_0/output_N.pb      PyTorch's own outputs, named after graph.output[N]

The names are read back from the exported graph (the exporter may rename), and the weights
and inputs come from a fixed seed, so a second run writes the same files. For each model the
script prints the ONNX ops its graph contains, which is what an importer has to support.

Usage: tools/onnx_torch_models.py [--out DIR] [--check]
  --out DIR  where the model folders go (default: tests/data/onnx/torch beside this script)
  --check    do not write; regenerate in memory and fail if any file differs from DIR
It needs Debian's python3-torch and python3-onnx (and libopenblas0-pthread, which
python3-torch loads); run it with /usr/bin/python3, the interpreter those packages are for.
"""

import argparse
import collections
import io
import os
import sys
import warnings


def _import_or_explain():
    missing = []
    try:
        import torch  # noqa: F401
    except ImportError as e:
        missing.append(("python3-torch libopenblas0-pthread", e))
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        missing.append(("python3-onnx", e))
    if missing:
        for package, error in missing:
            print(f"onnx_torch_models: {error}; install Debian's {package} "
                  f"(apt-get install -y {package}) and run this script with /usr/bin/python3 "
                  f"(this is {sys.executable})", file=sys.stderr)
        sys.exit(2)


_import_or_explain()

import numpy as np  # noqa: E402  (python3-torch depends on python3-numpy)
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

OPSET = 14
SEED = 20240601

# The exporter warns that an RNN exported without h0/c0 inputs at batch size > 1 may fail at
# another batch size, and about shape inference of prim::Constant. Neither applies here: the
# initial states it builds come from Shape(x), and every model was run in ONNX Runtime at other
# time and batch sizes against PyTorch. Silenced so the op lists stay readable.
warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")


# ---------------------------------------------------------------------------------------------
# The models. Each entry: a module, example inputs, input names, output names, dynamic axes.

class LstmStack(nn.Module):
    """nn.LSTM(4, 3, num_layers=2, bidirectional=True); returns y, h_n, c_n."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 3, num_layers=2, bidirectional=True)

    def forward(self, x):
        y, (h, c) = self.rnn(x)
        return y, h, c


class GruWithH0(nn.Module):
    """nn.GRU(4, 3) with the initial state as an input; returns y, h_n."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 3)

    def forward(self, x, h0):
        y, h = self.rnn(x, h0)
        return y, h


class RnnReluBatchFirst(nn.Module):
    """nn.RNN(4, 3, nonlinearity='relu', batch_first=True); returns y [B, T, H], h_n."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 3, nonlinearity="relu", batch_first=True)

    def forward(self, x):
        y, h = self.rnn(x)
        return y, h


class EmbeddingLstmClassifier(nn.Module):
    """Embedding(20, 5) -> LSTM(5, 4) -> Linear(4, 1) on the last step -> sigmoid."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 5)
        self.rnn = nn.LSTM(5, 4)
        self.dense = nn.Linear(4, 1)

    def forward(self, tokens):
        y, _ = self.rnn(self.embed(tokens))
        return torch.sigmoid(self.dense(y[-1]))


class BiGruLstm(nn.Module):
    """Bidirectional GRU(4, 3) whose output [T, B, 6] feeds an LSTM(6, 3); returns its y."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 3, bidirectional=True)
        self.lstm = nn.LSTM(6, 3)

    def forward(self, x):
        g, _ = self.gru(x)
        y, _ = self.lstm(g)
        return y


class EmbeddingBiGruLstmLinear(nn.Module):
    """Embedding(12, 4) -> bidirectional GRU(4, 3) -> LSTM(6, 3) -> Linear(3, 2) on every step;
    the model the fine-tuning gradient test differentiates."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 4)
        self.gru = nn.GRU(4, 3, bidirectional=True)
        self.lstm = nn.LSTM(6, 3)
        self.dense = nn.Linear(3, 2)

    def forward(self, tokens):
        g, _ = self.gru(self.embed(tokens))
        y, _ = self.lstm(g)
        return self.dense(y)


def _models():
    """Yields (name, module, inputs, input_names, output_names, dynamic_axes) in a fixed order,
    each built right after re-seeding, so one model's weights do not depend on the others."""
    T, B = 5, 2
    seq = {0: "T", 1: "B"}
    state = {1: "B"}

    torch.manual_seed(SEED)
    m = LstmStack()
    x = torch.randn(T, B, 4)
    yield ("lstm_2layer_bidirectional", m, (x,), ["x"], ["y", "h_n", "c_n"],
           {"x": seq, "y": seq, "h_n": state, "c_n": state})

    torch.manual_seed(SEED + 1)
    m = GruWithH0()
    x = torch.randn(T, B, 4)
    h0 = torch.randn(1, B, 3)
    yield ("gru_h0", m, (x, h0), ["x", "h0"], ["y", "h_n"],
           {"x": seq, "h0": state, "y": seq, "h_n": state})

    torch.manual_seed(SEED + 2)
    m = RnnReluBatchFirst()
    x = torch.randn(B, T, 4)
    bf = {0: "B", 1: "T"}
    yield ("rnn_relu_batch_first", m, (x,), ["x"], ["y", "h_n"],
           {"x": bf, "y": bf, "h_n": state})

    torch.manual_seed(SEED + 3)
    m = EmbeddingLstmClassifier()
    tokens = torch.randint(0, 20, (6, 3), dtype=torch.int64)
    yield ("embedding_lstm_classifier", m, (tokens,), ["tokens"], ["prob"],
           {"tokens": seq, "prob": {0: "B"}})

    torch.manual_seed(SEED + 4)
    m = BiGruLstm()
    x = torch.randn(T, B, 4)
    yield ("bigru_lstm", m, (x,), ["x"], ["y"], {"x": seq, "y": seq})

    torch.manual_seed(SEED + 5)
    m = EmbeddingBiGruLstmLinear()
    tokens = torch.randint(0, 12, (T, B), dtype=torch.int64)
    yield ("embedding_bigru_lstm_linear", m, (tokens,), ["tokens"], ["logits"],
           {"tokens": seq, "logits": seq})


# ---------------------------------------------------------------------------------------------

def _export(module, inputs, input_names, output_names, dynamic_axes):
    """Returns (the exported ModelProto, PyTorch's outputs as numpy arrays)."""
    module.eval()
    with torch.no_grad():
        outputs = module(*inputs)
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, inputs, buffer, opset_version=OPSET,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model)
    return model, [o.detach().numpy() for o in outputs]


def _graph_inputs(model):
    """The graph's real inputs in order (an initializer listed as an input is not one)."""
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _describe_ops(model):
    """'Op xN' for each op type in the graph (subgraphs included), and the RNN nodes' attrs."""
    counts = collections.Counter()
    rnn_nodes = []

    def visit(graph):
        for node in graph.node:
            counts[node.op_type] += 1
            if node.op_type in ("LSTM", "GRU", "RNN"):
                attrs = []
                for a in node.attribute:
                    value = onnx.helper.get_attribute_value(a)
                    if isinstance(value, bytes):
                        value = value.decode()
                    elif isinstance(value, list):
                        value = [v.decode() if isinstance(v, bytes) else v for v in value]
                    attrs.append(f"{a.name}={value}")
                used = [n if n else "-" for n in node.input]
                rnn_nodes.append(f"{node.op_type}({', '.join(attrs)}; inputs: {' '.join(used)})")
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    visit(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for g in a.graphs:
                        visit(g)

    visit(model.graph)
    ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(counts.items()))
    return ops, rnn_nodes


def _files_for(name, module, inputs, input_names, output_names, dynamic_axes):
    """Returns ({relative path: bytes}, ops line, rnn node lines, (graph inputs, outputs))."""
    model, outputs = _export(module, inputs, input_names, output_names, dynamic_axes)
    graph_inputs = _graph_inputs(model)
    graph_outputs = [o.name for o in model.graph.output]
    if len(graph_inputs) != len(inputs) or len(graph_outputs) != len(outputs):
        raise RuntimeError(f"{name}: the exported graph has inputs {graph_inputs} and outputs "
                           f"{graph_outputs}, PyTorch's call {len(inputs)} and {len(outputs)}")
    files = {"model.onnx": model.SerializeToString()}
    for n, (graph_name, value) in enumerate(zip(graph_inputs, inputs)):
        tensor = numpy_helper.from_array(np.ascontiguousarray(value.numpy()), graph_name)
        files[f"test_data_set_0/input_{n}.pb"] = tensor.SerializeToString()
    for n, (graph_name, value) in enumerate(zip(graph_outputs, outputs)):
        tensor = numpy_helper.from_array(np.ascontiguousarray(value), graph_name)
        files[f"test_data_set_0/output_{n}.pb"] = tensor.SerializeToString()
    ops, rnn_nodes = _describe_ops(model)
    return files, ops, rnn_nodes, (graph_inputs, graph_outputs)


def _shape(value):
    return "[" + ", ".join(str(d) for d in value.shape) + "]"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "onnx", "torch"))
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out instead of writing them")
    args = parser.parse_args()
    out = os.path.normpath(args.out)

    torch.set_num_threads(1)  # one thread: the same sums in the same order on every machine
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, opset {OPSET}, seed {SEED}")
    all_ops = collections.Counter()
    differing = []
    for name, module, inputs, input_names, output_names, dynamic_axes in _models():
        files, ops, rnn_nodes, (graph_inputs, graph_outputs) = _files_for(
            name, module, inputs, input_names, output_names, dynamic_axes)
        for op in ops.split(", "):
            all_ops[op.split(" x")[0]] += 1
        io_line = ", ".join(f"{n}{_shape(v)}" for n, v in zip(graph_inputs, inputs))
        print(f"\n{name}: inputs {io_line}; outputs {', '.join(graph_outputs)}")
        print(f"  ops: {ops}")
        for line in rnn_nodes:
            print(f"  {line}")
        folder = os.path.join(out, name)
        for rel, data in sorted(files.items()):
            path = os.path.join(folder, rel)
            if args.check:
                try:
                    with open(path, "rb") as f:
                        same = f.read() == data
                except FileNotFoundError:
                    same = False
                if not same:
                    differing.append(path)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        sizes = ", ".join(f"{rel} {len(data)} B" for rel, data in sorted(files.items()))
        print(f"  {'checked' if args.check else 'wrote'} {folder}: {sizes}")
    print(f"\nall ops: {', '.join(sorted(all_ops))}")
    if differing:
        print("differs from the regenerated files:\n  " + "\n  ".join(differing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
