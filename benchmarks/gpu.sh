#!/usr/bin/env bash
# The GPU checks in one run: the gpu-marked tests and the speed benchmark on the CUDA device.
#
#   benchmarks/gpu.sh OUTPUT_DIR [BONE_MARROW_DIR]
#
# Installs the wheels in .whl/ (anndata, scanpy, mudata, pytest, ... for an image that has torch and
# torchdiffeq but not the single-cell stack) into a temporary folder when present, and uses the package
# from src/ and the benchmark scripts of benchmarks/ (python3 -m benchmarks.<name>, from the repository
# root). Writes to OUTPUT_DIR: device.txt, pytest_gpu.txt, speed.csv, speed.md (the table), speed.log and
# scale.csv / scale.md / scale.log / scale.png (the whole fit_dynamics at 2,000 x 20,000 and 20,000 x 50,000;
# SCALE=0 skips it, SCALE_SEEDS sets the ensemble size, default 5). BONE_MARROW_DIR: a local copy of the bone marrow trajectories (else the download cache, else a
# synthetic stand-in of the same shape).
set -uo pipefail
out="${1:?usage: benchmarks/gpu.sh OUTPUT_DIR [BONE_MARROW_DIR]}"
data="${2:-}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  site="$(mktemp -d)"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
  export PYTHONPATH="$site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
{
  nvidia-smi
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"
} > "$out/device.txt" 2>&1
python3 -m pytest -q -m gpu -p no:cacheprovider tests/models/test_gpu.py tests/models/test_graphs.py \
  tests/robustness/test_gpu_reproducibility.py \
  > "$out/pytest_gpu.txt" 2>&1
echo "pytest exit status $?" >> "$out/pytest_gpu.txt"
python3 -m benchmarks.speed --device cuda ${data:+--path "$data"} --reference-cap "${REFERENCE_CAP:-120}" \
  --output "$out/speed.csv" > "$out/speed.md" 2> "$out/speed.log"
echo "speed benchmark exit status $?" >> "$out/speed.log"
if [ "${SCALE:-1}" != 0 ]; then  # the whole fit at scale, each size in its own process
  python3 -m benchmarks.scale --device cuda --sizes 2000x20000 20000x50000 --n-seeds "${SCALE_SEEDS:-5}" \
    --output "$out/scale.csv" --plot "$out/scale.png" > "$out/scale.md" 2> "$out/scale.log"
  echo "scale benchmark exit status $?" >> "$out/scale.log"
fi
if [ -n "$data" ]; then  # end to end: fit_dynamics on the GPU in the bone marrow benchmark
  python3 -m benchmarks.bone_marrow --device cuda --path "$data" --output "$out/bone_marrow" \
    > "$out/bone_marrow.md" 2> "$out/bone_marrow.log"
  echo "bone marrow benchmark exit status $?" >> "$out/bone_marrow.log"
fi
