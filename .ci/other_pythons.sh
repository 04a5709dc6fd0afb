#!/usr/bin/env bash
# Build nncore and run its whole test suite on each CPython beside the default one.
#
#   bash .ci/other_pythons.sh REPO_ROOT WORK_DIR [VERSION ...]     (default: 3.10 3.12 3.13)
#
# For each version: find the interpreter (pyenv, then $PYENV_ROOT/versions/X.Y.*, then
# pythonX.Y on PATH; the patch release is never hard-coded), make a venv in WORK_DIR,
# `pip install "REPO_ROOT[test,sklearn,plot,onnx,tables,dask]"` (compiles the extension), check the compiled
# backend is in use and that nncore is imported from the venv, not from the checkout, then run
# the suite from REPO_ROOT with NNCORE_REQUIRE_KERNELS=1. Ends with one line per version:
# tested (and how long it took), FAILED, or not found. Exits non-zero if any found version
# failed; a version that is not installed is reported, not failed. JOBS (default 1)
# versions run at once; PYTEST_ARGS are added to each pytest command.
set -euo pipefail
ROOT=$(cd "$1" && pwd)
WORK=$2
shift 2
VERSIONS=("$@")
PYTEST_ARGS=${PYTEST_ARGS:-}
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.10 3.12 3.13)
mkdir -p "$WORK"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# The checkout's src/ must never shadow the installed package.
unset PYTHONPATH NNCORE_BACKEND NNCORE_PUREPYTHON NNCORE_DEBUG_BUILD || true

# Print the path of a CPython X.Y interpreter, or nothing.
find_python() {
    local v=$1 candidates=() c
    if command -v pyenv >/dev/null 2>&1; then
        c=$(pyenv prefix "$v" 2>/dev/null || true)
        [ -z "$c" ] || candidates+=("${c%%:*}/bin/python")
    fi
    # Highest patch release first.
    while IFS= read -r c; do candidates+=("$c"); done < <(
        ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python 2>/dev/null | sort -rV)
    c=$(command -v "python$v" 2>/dev/null || true)
    [ -z "$c" ] || candidates+=("$c")
    for c in "${candidates[@]}"; do
        # pyenv shims exist for versions that are not active and then fail: run each one.
        if [ -x "$c" ] && [ "$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' \
                2>/dev/null)" = "$v" ]; then
            echo "$c"
            return
        fi
    done
}

# One version: venv, install, check, tests; its output into $WORK/py$v.log and its summary
# line into $WORK/py$v.result.
test_version() {
    local v=$1 py full start venv stage line
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        echo "Python $v: not found" > "$WORK/py$v.result"
        return
    fi
    full=$("$py" -c 'import platform; print(platform.python_version())')
    echo "===== Python $v: $py ($full)"
    start=$SECONDS
    venv="$WORK/py$v"
    rm -rf "$venv"
    stage=venv
    if "$py" -m venv "$venv" \
        && stage=install && "$venv/bin/python" -m pip install -q "$ROOT[test,sklearn,plot,onnx,tables,dask]" \
        && stage=check && (cd "$ROOT" && "$venv/bin/python" -c "
import sys, sysconfig
import nncore
site = sysconfig.get_paths()['platlib']
print('nncore', nncore.__version__, 'from', nncore.__file__, 'backend', nncore.get_ops().name)
assert nncore.__file__.startswith(site), f'nncore imported from {nncore.__file__}, not {site}'
assert nncore.get_ops().name == 'cython', 'the compiled backend is not in use'
") \
        && stage=tests && (cd "$ROOT" && NNCORE_REQUIRE_KERNELS=1 \
            "$venv/bin/python" -m pytest -q -p no:cacheprovider $PYTEST_ARGS); then
        line="Python $v: tested ($full, $((SECONDS - start)) s)"
    else
        line="Python $v: FAILED at $stage ($full, $((SECONDS - start)) s)"
    fi
    echo "===== $line"
    echo "$line" > "$WORK/py$v.result"
}

# JOBS versions at a time, each one's log printed whole when it ends. Default 1: two
# suites at once on the 2-core machine took 563 s each for 3.12 and 3.13 but 1,369 s for
# 3.10 (226 s alone): their BLAS threads spin against each other (issue 16's collapse).
JOBS=${JOBS:-1}
running=0
for v in "${VERSIONS[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    ( test_version "$v" > "$WORK/py$v.log" 2>&1; cat "$WORK/py$v.log" ) &
    running=$((running + 1))
done
wait || true

echo "===== other Pythons:"
FAILED=0
for v in "${VERSIONS[@]}"; do
    line=$(cat "$WORK/py$v.result" 2>/dev/null || echo "Python $v: FAILED (no result)")
    echo "  $line"
    case $line in *FAILED*) FAILED=1 ;; esac
done
exit "$FAILED"
