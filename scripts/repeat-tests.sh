#!/usr/bin/env bash
# Run the reliability and worker tests N times and print "N passed, M failed".
#
#   bash scripts/repeat-tests.sh 10                      # both backends
#   bash scripts/repeat-tests.sh 10 -m "not postgres"    # SQLite only
#   bash scripts/repeat-tests.sh 10 -m postgres          # PostgreSQL only
#
# Every test makes its own fresh database (a new SQLite file, a new PostgreSQL schema), so each
# repetition starts clean. PostgreSQL is started as `make test` starts it. A failing run's
# output is kept in .repeat-tests/run-K.log; a flaky test is fixed at its cause, never retried.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/repeat-tests.sh N [pytest args...]  (N: a positive whole number)" >&2
  exit 2
fi
runs=$1
shift
PY=${PY:-.venv/bin/python}
TESTS=(tests/reliability tests/worker/test_worker.py tests/worker/test_loop_faults.py
       tests/worker/test_proxy.py tests/worker/test_trial_storage.py)

mkdir -p .repeat-tests
environment=$(bash scripts/test-services.sh)
passed=0
failed=0
for run in $(seq 1 "$runs"); do
  log=".repeat-tests/run-$run.log"
  started=$(date +%s)
  # shellcheck disable=SC2086  # the environment is KEY=VALUE words by construction
  if env $environment "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    verdict=passed
    rm -f "$log"
  else
    failed=$((failed + 1))
    verdict="FAILED (see $log)"
  fi
  echo "run $run/$runs: $verdict in $(( $(date +%s) - started )) s" >&2
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
