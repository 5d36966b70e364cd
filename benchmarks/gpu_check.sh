#!/usr/bin/env bash
# The whole GPU path in under 10 minutes on one CUDA machine: the cuda-marked tests, `zoo3d bench render`
# and `zoo3d bench models` at paper sizes, 50 training steps of GRAM / GRAM-HD / tri-plane at 256² with the
# paper batch per GPU, a 2-GPU torchrun run when there are two GPUs, and bf16/fp16 autocast against fp32.
# Writes DIR/gpu_check.json (every figure and a summary); see benchmarks/gpu_check.py for the details.
#
#   benchmarks/gpu_check.sh [--out DIR]               on a GPU machine (DIR defaults to gpu_check_out)
#   benchmarks/gpu_check.sh --only zoo [--out DIR]    the zoo's paper-preset command, shrunk (a run of its own)
#   benchmarks/gpu_check.sh --dry-run                 print the plan (runs and writes nothing)
#   benchmarks/gpu_check.sh --device cpu --small      check this script on a CPU (its figures mean nothing)
#
# PYTHON chooses the interpreter (default: the checkout's .venv, else python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
# The script keeps its own 570 s budget; this is the backstop (an hour for --small on a CPU).
limit=630
for arg in "$@"; do [ "$arg" = "--small" ] && limit=3700; done
exec timeout --signal=TERM --kill-after=20 "$limit" "$python" "$here/gpu_check.py" "$@"
