#!/usr/bin/env bash
# One short session on a lent GPU machine (no network there): install what its image lacks
# from carried wheels, then run, each step with its own time limit so one failure does not
# cost the others:
#   1. the tests that reach the GPU code paths (devices, DBN back ends, timing), then the
#      DBN's per-step time on each back end (against BASELINE=dir, a checkout, if given);
#   2. the seed script on Fashion-MNIST on CuPy and torch CUDA;
#   3. the quick speedup table; 4. the seed-profile table (JSON, Markdown, PNG).
# Usage, from the repository root:  OUT=/some/dir bash benchmarks/gpu_session.sh [checks|seed|all]
# ("checks" runs 1-3, "seed" runs 4: two calls fit a short lease better than one long one).
# It expects .gpuwheels/ (array-api-compat, array-api-strict wheels) and
# .gpudata/fashion-mnist/ (Debian's IDX files) beside the checkout.
set -uo pipefail
OUT=${OUT:-/tmp/gpubench-out}
mkdir -p "$OUT"
PY=${PY:-python3}
SEED_TIMEOUT=${SEED_TIMEOUT:-240}
# The seed profile on a many-core CPU takes minutes per round at 2000-2000 and above
# (numpy, 10 epochs of 46,900 samples): pick the sizes that fit the lease.
SEED_SELECT=${SEED_SELECT:-transfer or 300 or 800-800}
log() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

STAGE=${1:-all}

log install
$PY -m pip install -q --no-deps --no-index .gpuwheels/*.whl
if ! $PY -m pip install -q --no-deps --no-index --no-build-isolation -e .; then
    # No usable setuptools there: load the package and its two plugins from the tree.
    export PYTHONPATH=$PWD PYTEST_ADDOPTS="-p pytest_gpubench.plugin -p pytest_gpubench.ec2.plugin"
fi
export GPUBENCH_FASHION_MNIST_DIR=$PWD/.gpudata/fashion-mnist
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"
$PY -c "import numpy, threadpoolctl; print(numpy.__version__, threadpoolctl.threadpool_info())" \
    | tee "$OUT/blas.txt"

if [ "$STAGE" != seed ]; then
log tests on GPU back ends
timeout 150 $PY -m pytest -q -p no:cacheprovider -rs \
    tests/test_devices.py tests/test_dbn_backends.py tests/test_dbn_ops.py \
    tests/test_dbn_fused.py tests/test_timing.py 2>&1 \
    | tail -25 | tee "$OUT/tests.txt"

log per-step times
timeout 120 $PY -m benchmarks.backend_ab --devices numpy,cupy,torch-cuda --rounds 1 --fits 3 \
    ${BASELINE:+--baseline "$BASELINE"} 2>&1 | tee "$OUT/steps.txt"

log seed script
for dev in cupy torch-cuda; do
    timeout 150 $PY -m pytest_gpubench.dbn.mnist --dataset fashion-mnist --device "$dev" \
        --learn-rate 0.1 --random-state 0 2>/dev/null | tee "$OUT/seed-script-$dev.txt"
done

log quick table
timeout 150 $PY -m pytest -q -p no:cacheprovider --gpubench \
    --gpubench-devices numpy,torch-cpu,cupy,torch-cuda --benchmark-disable-gc \
    --gpubench-json "$OUT/quick.json" --gpubench-markdown "$OUT/quick.md" \
    --gpubench-plot "$OUT/quick.png" experiments 2>&1 | tail -70 | tee "$OUT/quick.txt"
fi

if [ "$STAGE" != checks ]; then

log seed table
timeout "$SEED_TIMEOUT" $PY -m pytest -q -p no:cacheprovider --gpubench \
    --gpubench-profile seed --gpubench-devices numpy,cupy,torch-cuda \
    --gpubench-min-rounds 3 --gpubench-max-rounds 5 -k "$SEED_SELECT" \
    --gpubench-json "$OUT/seed.json" --gpubench-markdown "$OUT/seed.md" \
    --gpubench-plot "$OUT/seed.png" experiments 2>&1 | tail -70 | tee "$OUT/seed.txt"
fi
log done
