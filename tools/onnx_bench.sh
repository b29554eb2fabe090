#!/usr/bin/env bash
# Speed comparison on exported PyTorch models: gatefuse against ONNX Runtime (and PyTorch).
#
# For an LSTM and a GRU (one layer, T=100, I=H=512, inference) this exports each model once
# with PyTorch (opset 14, dynamic time and batch) into a folder outside the repository, writes
# random inputs and PyTorch's outputs for each batch size in the ONNX backend test layout
#   DIR/<cell>.onnx                         the one export of the cell
#   DIR/<cell>_T100_H512_B<b>/model.onnx    a hard link to it (a copy where links fail)
#   DIR/<cell>_T100_H512_B<b>/test_data_set_0/{input_0.pb, output_N.pb}
# (each such folder also works with `gatefuse onnx-test`), then times, alternately in one run,
#   A: bazel-out/k8-opt/bin/tools/gatefuse run MODEL.onnx --inputs SET --repeat N --threads T
#   B: node tools/ort_run.js --model MODEL.onnx --inputs SET --repeat N --threads T
#   C: (with --torch) the same nn module in PyTorch, torch.set_num_threads(T), torch.no_grad,
#      OPENBLAS_NUM_THREADS=T and OMP_WAIT_POLICY=passive (see torch_run below)
# each of which prints one line `median_ms=<x> runs=<N>`. Every (cell, B) runs ABAB... (ABC...)
# for --rounds rounds; the table gives each side's median of its per-run medians and the ratio
# ORT/gatefuse (above 1: gatefuse is faster).
#
# usage: tools/onnx_bench.sh [--torch] [--rounds R] [--repeat N] [--threads T]
#                            [--cells "lstm gru"] [--batches "64 4 1"] [--T N] [--H N]
#                            [--dir DIR] [--gatefuse BIN] [--ort JS] [--export-only] [--reexport]
#   --rounds R      alternation rounds per (cell, B) (default 5)
#   --repeat N      timed runs inside each measurement (default 10)
#   --threads T     threads for every side (default 2)
#   --dir DIR       where the exports go (default ${TMPDIR:-/tmp}/gatefuse-onnx-bench); an
#                   export is reused while its settings match, --reexport forces a new one
#   --gatefuse BIN  the gatefuse binary (default bazel-out/k8-opt/bin/tools/gatefuse)
#   --ort JS        the ONNX Runtime runner, run with node (default tools/ort_run.js)
#   --export-only   write the models and inputs, measure nothing
# A side whose program is missing (no gatefuse binary, no ort_run.js or node) is left
# out with a warning; a measurement that fails or prints no median_ms line stops the script.
# The table is also written to DIR/results.md, every single measurement to DIR/runs.txt.
# Needs Debian's python3-torch and python3-onnx (run with /usr/bin/python3 unless PYTHON is
# set) and, for ORT, node with onnxruntime-node as tools/setup.sh installs it in .ort/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

rounds=5 repeat=10 threads=2 T=100 H=512
cells="lstm gru" batches="64 4 1"
dir="${TMPDIR:-/tmp}/gatefuse-onnx-bench"
gatefuse="bazel-out/k8-opt/bin/tools/gatefuse"
ort_js="tools/ort_run.js"
with_torch=0 export_only=0 reexport=0

die() { echo "onnx_bench: error: $*" >&2; exit 1; }
need_value() { [ "$#" -ge 2 ] || die "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --torch) with_torch=1; shift ;;
    --export-only) export_only=1; shift ;;
    --reexport) reexport=1; shift ;;
    --rounds) need_value "$@"; rounds="$2"; shift 2 ;;
    --repeat) need_value "$@"; repeat="$2"; shift 2 ;;
    --threads) need_value "$@"; threads="$2"; shift 2 ;;
    --cells) need_value "$@"; cells="$2"; shift 2 ;;
    --batches) need_value "$@"; batches="$2"; shift 2 ;;
    --T) need_value "$@"; T="$2"; shift 2 ;;
    --H) need_value "$@"; H="$2"; shift 2 ;;
    --dir) need_value "$@"; dir="$2"; shift 2 ;;
    --gatefuse) need_value "$@"; gatefuse="$2"; shift 2 ;;
    --ort) need_value "$@"; ort_js="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for n in "$rounds" "$repeat" "$threads" "$T" "$H" $batches; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive whole number"
done
for c in $cells; do
  [[ "$c" == lstm || "$c" == gru ]] || die "unknown cell '$c' (lstm or gru)"
done
{ [ -n "$cells" ] && [ -n "$batches" ]; } || die "--cells and --batches must not be empty"

# The Python with Debian's torch: /usr/bin/python3 before whatever python3 PATH finds first.
if [ -z "${PYTHON:-}" ]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch, onnx' 2>/dev/null; then PYTHON="$p"; break; fi
  done
fi
[ -n "${PYTHON:-}" ] || die "no python3 imports torch and onnx; apt-get install -y python3-torch python3-onnx libopenblas0-pthread"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
case "$dir/" in "$here"/*) echo "onnx_bench: warning: $dir is inside the repository" >&2 ;; esac

# Debian's torch runs its GEMMs in OpenBLAS's own pthread pool (BLAS_INFO=generic) and the
# pointwise ops in OpenMP's; by default OpenBLAS takes every core and OpenMP's idle threads
# spin, and the two pools fight: an LSTM at B=64 took 3.3 s instead of 0.5 s here on 2 cores.
# So OpenBLAS gets the same thread count and OpenMP waits passively (unless set outside).
torch_env=(OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$threads}"
           OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}")

# ---------------------------------------------------------------------------------------------
# Export: one model per cell, one test-layout folder per batch size.
export_cell() {  # export_cell CELL
  env "${torch_env[@]}" "$PYTHON" - "$dir" "$1" "$T" "$H" "$batches" <<'PY'
import os, sys, warnings
warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
import numpy as np, onnx, torch
from onnx import numpy_helper

out, cell, T, H, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed({"lstm": 1, "gru": 2}[cell])
rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(H, H).eval()

class Wrap(torch.nn.Module):  # the outputs as a flat tuple: y, h_n[, c_n]
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn
    def forward(self, x):
        y, state = self.rnn(x)
        return (y,) + (tuple(state) if isinstance(state, tuple) else (state,))

model = Wrap(rnn).eval()
outputs = ["y", "h_n", "c_n"] if cell == "lstm" else ["y", "h_n"]
axes = {"x": {0: "T", 1: "B"}, "y": {0: "T", 1: "B"}}
axes.update({n: {1: "B"} for n in outputs[1:]})
onnx_path = os.path.join(out, f"{cell}.onnx")
with torch.no_grad():
    torch.onnx.export(model, (torch.randn(T, 2, H),), onnx_path + ".tmp", opset_version=14,
                      input_names=["x"], output_names=outputs, dynamic_axes=axes)
os.replace(onnx_path + ".tmp", onnx_path)
torch.save(rnn.state_dict(), os.path.join(out, f"{cell}.pt"))
graph = onnx.load(onnx_path).graph
initializers = {t.name for t in graph.initializer}
in_names = [i.name for i in graph.input if i.name not in initializers]
out_names = [o.name for o in graph.output]
assert len(in_names) == 1 and len(out_names) == len(outputs), (in_names, out_names)

torch.set_num_threads(2)
for b in batches.split():
    folder = os.path.join(out, f"{cell}_T{T}_H{H}_B{b}")
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    link = os.path.join(folder, "model.onnx")
    if os.path.lexists(link):
        os.remove(link)
    try:
        os.link(onnx_path, link)
    except OSError:
        import shutil
        shutil.copyfile(onnx_path, link)
    x = torch.randn(T, int(b), H)
    with torch.no_grad():
        ys = model(x)
    def write(name, index, kind, array):
        tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
        with open(os.path.join(data, f"{kind}_{index}.pb"), "wb") as f:
            f.write(tensor.SerializeToString())
    write(in_names[0], 0, "input", x.numpy())
    for n, (name, y) in enumerate(zip(out_names, ys)):
        write(name, n, "output", y.numpy())
print(f"exported {onnx_path} ({os.path.getsize(onnx_path)} bytes), ops: "
      + ", ".join(sorted({n.op_type for n in graph.node})) + f"; batches {batches}")
PY
}

torch_version="$("$PYTHON" -c 'import torch; print(torch.__version__)')"
for cell in $cells; do
  stamp="$dir/$cell.config"
  config="cell=$cell T=$T I=$H H=$H batches=$batches torch=$torch_version opset=14 v1"
  fresh=1
  [ "$reexport" = 1 ] && fresh=0
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$config" ] || fresh=0
  for b in $batches; do
    [ -f "$dir/${cell}_T${T}_H${H}_B$b/test_data_set_0/input_0.pb" ] || fresh=0
  done
  if [ "$fresh" = 1 ]; then
    echo "reusing $dir/$cell.onnx ($config)" >&2
  else
    rm -f "$stamp"
    export_cell "$cell" >&2
    echo "$config" > "$stamp"
  fi
done
[ "$export_only" = 1 ] && { echo "exports in $dir" >&2; exit 0; }

# ---------------------------------------------------------------------------------------------
# The sides.
sides=()
if [ -x "$gatefuse" ]; then sides+=(gatefuse); else
  echo "onnx_bench: warning: no gatefuse binary at $gatefuse (bazel build -c opt //tools:gatefuse); left out" >&2
fi
if [ -f "$ort_js" ] && command -v node >/dev/null; then sides+=(ort); else
  echo "onnx_bench: warning: $ort_js or node missing; ONNX Runtime left out" >&2
fi
[ "$with_torch" = 1 ] && sides+=(torch)
[ "${#sides[@]}" -gt 0 ] || die "nothing to measure"
has() { [[ " ${sides[*]} " == *" $1 "* ]]; }

torch_run() {  # torch_run CELL STATE INPUT_PB REPEAT THREADS
  env "${torch_env[@]}" "$PYTHON" - "$@" <<'PY'
import statistics, sys, time
import onnx, torch
from onnx import numpy_helper
cell, state, input_pb, repeat, threads = sys.argv[1:6]
torch.set_num_threads(int(threads))
tensor = onnx.TensorProto()
with open(input_pb, "rb") as f:
    tensor.ParseFromString(f.read())
x = torch.from_numpy(numpy_helper.to_array(tensor).copy())
weights = torch.load(state)
H = weights["weight_hh_l0"].shape[1]
rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(x.shape[2], H).eval()
rnn.load_state_dict(weights)
times = []
with torch.no_grad():
    for i in range(2 + int(repeat)):  # two warm-up runs
        start = time.perf_counter()
        rnn(x)
        if i >= 2:
            times.append((time.perf_counter() - start) * 1e3)
print(f"median_ms={statistics.median(times):.4f} runs={len(times)}")
PY
}

runs_log="$dir/runs.txt"
: > "$runs_log"
measure() {  # measure SIDE CELL B  -> prints the median in ms
  local side="$1" cell="$2" b="$3" folder out err rc=0
  folder="$dir/${cell}_T${T}_H${H}_B$b"
  err="$(mktemp)"
  case "$side" in
    gatefuse) cmd=("$gatefuse" run "$folder/model.onnx" --inputs "$folder/test_data_set_0"
                   --repeat "$repeat" --threads "$threads") ;;
    ort) cmd=(node "$ort_js" --model "$folder/model.onnx" --inputs "$folder/test_data_set_0"
              --repeat "$repeat" --threads "$threads") ;;
    torch) cmd=(torch_run "$cell" "$dir/$cell.pt" "$folder/test_data_set_0/input_0.pb"
                "$repeat" "$threads") ;;
  esac
  out="$("${cmd[@]}" 2>"$err")" || rc=$?
  local median
  median="$(printf '%s\n' "$out" | sed -n 's/^median_ms=\([0-9.eE+-]*\) runs=[0-9]*$/\1/p' | tail -n 1)"
  if [ "$rc" != 0 ] || [ -z "$median" ]; then
    {
      echo "onnx_bench: error: $side failed (exit $rc) or printed no 'median_ms=<x> runs=<N>' line:"
      echo "  ${cmd[*]}"
      printf '%s\n' "$out" | tail -n 5 | sed 's/^/  stdout: /'
      if [ "$(wc -l < "$err")" -le 16 ]; then cat "$err"; else
        head -n 4 "$err"; echo "..."; tail -n 10 "$err"; fi | sed 's/^/  stderr: /'
    } >&2
    rm -f "$err"
    exit 1
  fi
  rm -f "$err"
  echo "$side $cell B=$b $median" >> "$runs_log"
  echo "$median"
}

median_of() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
  if (NR % 2) printf "%.3f", v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# ---------------------------------------------------------------------------------------------
# The machine.
flags="$({ grep -m1 '^flags' /proc/cpuinfo || true; } | cut -d: -f2-)"
avx512="$(tr ' ' '\n' <<<"$flags" | { grep '^avx512' || true; } | sort -u | tr '\n' ' ' | sed 's/ $//')"
if [ -n "$avx512" ]; then
  isa="AVX-512"
  grep -qw avx512_bf16 <<<"$flags" && isa+=" with BF16" || isa+=" without BF16"
  grep -qw amx_bf16 <<<"$flags" && isa+=", AMX"
  isa+=" ($avx512)"
elif grep -qw avx2 <<<"$flags"; then
  isa="AVX2 only (no AVX-512)"
else
  isa="no AVX2"
fi
cpu="$({ grep -m1 '^model name' /proc/cpuinfo || true; } | cut -d: -f2- | sed 's/^ *//')"
onednn_isa=""
if [ -x "$gatefuse" ]; then
  onednn_isa="$(ONEDNN_VERBOSE=1 DNNL_VERBOSE=1 "$gatefuse" bench --cell lstm --mode infer \
      --T 2 --B 1 --I 4 --H 4 2>&1 | sed -n 's/.*_verbose,info,cpu,isa:\(.*\)/\1/p' | head -n 1)" || true
fi

versions=""
if has ort; then
  versions+="onnxruntime-node $(node -e 'try { console.log(require("./.ort/node_modules/onnxruntime-node/package.json").version) } catch (e) { console.log("?") }' 2>/dev/null || echo '?'); "
fi
versions+="torch $torch_version"
if [ "$with_torch" = 1 ]; then
  versions+=" (the exports and the PyTorch column: torch.set_num_threads($threads), ${torch_env[*]})"
else
  versions+=" (the exports)"
fi
header="cpu: ${cpu:-unknown}; ISA: $isa${onednn_isa:+; oneDNN dispatches $onednn_isa}
threads: $threads per side (of $(nproc) online); T=$T I=H=$H, one layer, inference, f32
$versions
rounds: $rounds, alternating ${sides[*]}; --repeat $repeat runs per measurement; the
numbers are each side's median over the rounds of its per-measurement median, in ms;
a ratio X/gatefuse above 1 means gatefuse is faster"
echo "$header"

# ---------------------------------------------------------------------------------------------
# The measurements: for each (cell, B), rounds of A B [C].
declare -A results
for cell in $cells; do
  for b in $batches; do
    for ((r = 1; r <= rounds; r++)); do
      line="$cell B=$b round $r/$rounds:"
      for side in "${sides[@]}"; do
        m="$(measure "$side" "$cell" "$b")"
        results["$side,$cell,$b"]+="$m "
        line+=" $side=$m"
      done
      echo "$line" >&2
    done
  done
done

table="| cell | B |"
rule="|---|---:|"
has gatefuse && { table+=" gatefuse ms |"; rule+="---:|"; }
has ort && { table+=" ORT ms |"; rule+="---:|"; }
has torch && { table+=" PyTorch ms |"; rule+="---:|"; }
has gatefuse && has ort && { table+=" ORT/gatefuse |"; rule+="---:|"; }
has gatefuse && has torch && { table+=" PyTorch/gatefuse |"; rule+="---:|"; }
table+=$'\n'"$rule"
for cell in $cells; do
  for b in $batches; do
    declare -A med=()
    row="| $cell | $b |"
    for side in gatefuse ort torch; do
      has "$side" || continue
      # shellcheck disable=SC2086
      med[$side]="$(median_of ${results["$side,$cell,$b"]})"
      row+=" ${med[$side]} |"
    done
    has gatefuse && has ort && row+=" $(ratio "${med[ort]}" "${med[gatefuse]}") |"
    has gatefuse && has torch && row+=" $(ratio "${med[torch]}" "${med[gatefuse]}") |"
    table+=$'\n'"$row"
    unset med
  done
done
echo
echo "$table"
printf '%s\n\n%s\n' "$header" "$table" > "$dir/results.md"
echo "(also in $dir/results.md; every measurement in $runs_log)" >&2
