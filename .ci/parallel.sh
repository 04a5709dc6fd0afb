#!/usr/bin/env bash
# Run jobs N at a time; print each job's output whole when it ends, then one line per job
# (passed or FAILED, and its time). Exits non-zero if any job failed.
#
#   bash .ci/parallel.sh WORK_DIR N "name|command" ...
#
# Each command runs with `bash -c` in the current directory and environment, with its own
# pytest temporary folder (PYTEST_ADDOPTS=--basetemp=...) so that runs at once never share one.
set -uo pipefail
WORK=$1
N=$2
shift 2
mkdir -p "$WORK"
run_one() {
  local i=$1 name=$2 cmd=$3 start=$SECONDS rc
  echo "===== $name"
  PYTEST_ADDOPTS="--basetemp=$WORK/tmp$i ${PYTEST_ADDOPTS:-}" bash -c "set -e; $cmd"
  rc=$?
  echo "===== $name: $([ $rc = 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - start)) s"
  echo "$rc $((SECONDS - start)) $name" > "$WORK/result$i"
}
i=0
running=0
for job in "$@"; do
  if [ "$running" -ge "$N" ]; then
    wait -n
    running=$((running - 1))
  fi
  ( run_one "$i" "${job%%|*}" "${job#*|}" > "$WORK/log$i" 2>&1; cat "$WORK/log$i" ) &
  running=$((running + 1))
  i=$((i + 1))
done
wait
failed=0
echo "===== jobs:"
for ((k = 0; k < i; k++)); do
  read -r rc secs name < "$WORK/result$k" || { rc=1; secs=?; name="job $k (no result)"; }
  echo "  $name: $([ "$rc" = 0 ] && echo passed || echo FAILED) ($secs s)"
  [ "$rc" = 0 ] || failed=1
done
exit "$failed"
