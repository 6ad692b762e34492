#!/usr/bin/env bash
# The CUDA path proven in one prepared run, for whoever is lent a GPU (the device tool's
# `status` says): one line per check, full output under $GPU_CHECK_LOGS (default /tmp/gpu_check).
# It fits in 8 minutes on one H200. Without a GPU it says so in one line and exits 0.
#
#   bash bench/gpu_check.sh            # .venv/bin/python when there, else python3
#   PYTHON=python3 bash bench/gpu_check.sh
#
# Checks: the CUDA tests; the trial-runner bench on CUDA (the built-in loop and a torchvision
# resnet18 at 224 px from a generated JPEG folder against the torchvision reference loop); one
# job end to end (API, worker, resnet18 at 224 px, bf16 autocast, channels_last); the same job
# on the GPU slot pool, two slots on one GPU (hpadvisor worker --gpus 0 --slots 2); a folder
# three times the memory budget streamed from disk to the GPU against the same folder in memory.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
LOGS=${GPU_CHECK_LOGS:-/tmp/gpu_check}
mkdir -p "$LOGS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

gpu=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null)
if [ -z "$gpu" ]; then
  echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is false); nothing checked"
  exit 0
fi
echo "gpu_check: $gpu, torch $("$PY" -c 'import torch, torchvision; print(torch.__version__, "torchvision", torchvision.__version__)')"

failed=0
check() {  # check NAME SECONDS COMMAND...: run, log, print one line
  local name=$1 limit=$2; shift 2
  local started=$SECONDS
  timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  local took=$((SECONDS - started))
  if [ $rc -eq 0 ]; then status=ok; else status="FAILED (exit $rc)"; failed=1; fi
  echo "$name: $status in ${took}s: $(summary "$name")"
}
summary() {
  case $1 in
    cuda-tests) grep -E '[0-9]+ (passed|failed|error)' "$LOGS/$1.log" | tail -1 ;;
    bench-builtin|bench-folder)
      grep -E 'images/s|x$' "$LOGS/$1.log" | sed -E 's/ +/ /g' | tr '\n' ';' ;;
    job|slot-pool) tail -1 "$LOGS/$1.log" ;;
    streamed) tail -3 "$LOGS/$1.log" | sed -E "s/ +/ /g" | tr "\n" ";" ;;
  esac
}

check cuda-tests 120 "$PY" -m pytest -q -p no:cacheprovider tests/worker/test_trainer_cuda.py
check bench-builtin 90 "$PY" bench/trial_runner.py --device cuda --model resnet20 \
  --dataset digits --epochs 3 --rounds 2
check bench-folder 200 "$PY" bench/trial_runner.py --device cuda --folder --model resnet18 \
  --images 4000 --size 224 --epochs 2 --rounds 2 --workers 8
check job 200 "$PY" bench/gpu_job.py --device cuda --model resnet18 --size 224 --images 2000 \
  --trials 3 --epochs 3 --timeout 180
check streamed 90 "$PY" bench/streamed_data.py --device cuda --images 20000 --size 64 \
  --epochs 2 --threads 8
check slot-pool 150 "$PY" bench/gpu_job.py --device cuda --model resnet18 --size 224 \
  --images 2000 --trials 4 --epochs 3 --timeout 120 --worker-args "--gpus 0 --slots 2"
exit $failed
