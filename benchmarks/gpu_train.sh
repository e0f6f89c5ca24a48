#!/usr/bin/env bash
# GPU training throughput of the paper configuration (ResNet-34, 50³, batch 128) with Keras on
# JAX, plus one short real training run; results are appended to benchmarks/results/train.md.
#
# On the GPU machine, from the repository root (one command):
#     bash benchmarks/gpu_train.sh            # checks, paper throughput (fp32 + mixed), real run
#     bash benchmarks/gpu_train.sh paper      # throughput only
#     bash benchmarks/gpu_train.sh real       # short real training run only
#
# The GPU machine has JAX (and PyTorch) but no TensorFlow and no internet.  Wheels of the pure
# dependencies it may lack (keras and its helpers, uproot, awkward, boost-histogram, iminuit,
# numba, ...) are installed from the git-ignored folder .whl/ (or $HEPC9_WHEELS); fill it
# beforehand where the package index is reachable, for the GPU machine's Python version:
#     bash benchmarks/gpu_train.sh fetch-wheels 3.11
# and carry .whl/ along with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
WHEELS=${HEPC9_WHEELS:-.whl}
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
export XLA_PYTHON_CLIENT_PREALLOCATE=false   # share GPU memory politely; JAX grows as needed
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}

# module name -> distribution name
declare -A DIST=([keras]=keras [uproot]=uproot [awkward]=awkward [boost_histogram]=boost-histogram
                 [hist]=hist [iminuit]=iminuit [numba]=numba [vector]=vector [tqdm]=tqdm
                 [scipy]=scipy [h5py]=h5py [pytest]=pytest)

if [ "$MODE" = fetch-wheels ]; then
    PYVER=${2:-3.11}
    mkdir -p "$WHEELS"
    "$PY" -m pip download --only-binary=:all: --python-version "$PYVER" \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any -d "$WHEELS" "${DIST[@]}"
    du -sh "$WHEELS"
    exit 0
fi

missing=()
for mod in "${!DIST[@]}"; do
    "$PY" -c "import $mod" 2>/dev/null || missing+=("${DIST[$mod]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing from $WHEELS: ${missing[*]}"
    if [ -d "$WHEELS" ]; then
        "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "${missing[@]}"
    else
        echo "error: ${missing[*]} missing and no wheel folder $WHEELS (see fetch-wheels)" >&2
        exit 1
    fi
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$PY" - <<'PY'
import jax, keras
print("jax", jax.__version__, jax.devices())
print("keras", keras.__version__, "backend", keras.backend.backend())
assert keras.backend.backend() == "jax"
PY

if [ "$MODE" = all ] || [ "$MODE" = paper ]; then
    "$PY" benchmarks/bench_train.py --mode paper --backend jax --batch 128 --steps 20
    "$PY" benchmarks/bench_train.py --mode paper --backend jax --batch 128 --steps 20 --mixed
fi
if [ "$MODE" = all ]; then
    # the model tests on the JAX backend (skipping nothing: they are backend-agnostic)
    "$PY" -m pytest tests/models tests/train -q -p no:cacheprovider || true
fi
if [ "$MODE" = all ] || [ "$MODE" = real ]; then
    "$PY" benchmarks/bench_train.py --mode real --backend jax --points 22 \
        --images-per-point 100 --events-per-image 24000 --test-images 100 --epochs 10 \
        --batch 128
fi
echo "results appended to benchmarks/results/train.md"
