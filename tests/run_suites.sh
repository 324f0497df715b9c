#!/usr/bin/env bash
# Runs the make targets named on the command line one after another, keeps going after a failure,
# and prints a summary computed from what actually ran: each suite's result and time, then
# "suites: N passed, M failed (names)". Exits 1 when any suite failed.
#
#   MAKE=make bash tests/run_suites.sh lint test-rust test-sim
set -uo pipefail

make_cmd=${MAKE:-make}
passed=()
failed=()
lines=()
for suite in "$@"; do
  echo "=== suite $suite"
  started=$SECONDS
  if "$make_cmd" --no-print-directory "$suite"; then
    passed+=("$suite")
    result=passed
  else
    failed+=("$suite")
    result=FAILED
  fi
  lines+=("$(printf '  %-20s %-7s %5d s' "$suite" "$result" $((SECONDS - started)))")
done

echo "=== summary"
if ((${#lines[@]} > 0)); then
  printf '%s\n' "${lines[@]}"
fi
if ((${#failed[@]} > 0)); then
  echo "suites: ${#passed[@]} passed, ${#failed[@]} failed (${failed[*]})"
  exit 1
fi
echo "suites: ${#passed[@]} passed, 0 failed"
