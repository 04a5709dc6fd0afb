#!/usr/bin/env bash
# nncore installs and works without a C compiler; with one, a build error still fails.
#
#   bash .ci/no_compiler.sh REPO_ROOT WORK_DIR          (PYTHON=... picks the interpreter)
#
#  1. `CC=false pip install REPO_ROOT` in a fresh venv succeeds: setup.py's compiler probe
#     fails (the build log says so), no extension is built or shipped (also not a stale one
#     from an earlier in-tree build);
#  2. `import nncore` warns exactly once (KernelsMissingWarning), runs on the NumPy backend,
#     and trains a small model; with NNCORE_BACKEND=numpy it does not warn;
#  3. with the compiler working and an error injected into the extension's compilation only
#     (NNCORE_TEST_BREAK_BUILD=1), the install fails.
set -euo pipefail
ROOT=$(cd "$1" && pwd)
WORK=$2
PYTHON=${PYTHON:-python}
mkdir -p "$WORK"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
unset PYTHONPATH NNCORE_BACKEND NNCORE_PUREPYTHON NNCORE_DEBUG_BUILD NNCORE_TEST_BREAK_BUILD \
    PYTHONWARNINGS || true
start=$SECONDS
venv="$WORK/nocc"
rm -rf "$venv"
"$PYTHON" -m venv "$venv"
vpy="$venv/bin/python"

fail() {
    echo "no-compiler check FAILED: $1" >&2
    exit 1
}

echo "[$((SECONDS - start)) s] == 1. CC=false pip install (log: $WORK/nocc-install.log)"
# CC=false: the compiler exists but every call fails; setuptools derives LDSHARED from CC.
CC=false "$vpy" -m pip install -v "$ROOT" >"$WORK/nocc-install.log" 2>&1 \
    || { tail -40 "$WORK/nocc-install.log"; fail "pip install without a compiler failed"; }
grep -A6 "no working C compiler" "$WORK/nocc-install.log" \
    || fail "the build log does not say that the compiler check failed"
so_files=$(find "$venv" -path '*/site-packages/nncore/*' -name '*.so')
[ -z "$so_files" ] || fail "an extension was installed: $so_files"

echo "[$((SECONDS - start)) s] == 2. import nncore: one warning, NumPy backend, a model trains"
cd "$WORK"
"$vpy" - <<'EOF'
import warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import nncore
    import nncore.backends
    import nncore.cli

    nncore.get_ops()
missing = [w for w in caught if issubclass(w.category, nncore.KernelsMissingWarning)]
assert len(missing) == 1, [str(w.message) for w in caught]
print("warning:", missing[0].message)
assert not nncore.HAS_KERNELS and nncore.get_ops().name == "numpy", nncore.get_ops().name
X, y = nncore.make_moons(400, noise=0.1, seed=0)
model = nncore.Sequential([nncore.Dense(16, activation="relu"), nncore.Dense(2)], seed=0)
history = model.fit(X, y, epochs=40, batch_size=32, optimizer=nncore.Adam(lr=1e-2),
                    loss=nncore.SoftmaxCrossEntropy(), verbose=0)
losses = history.history["loss"]
accuracy = float((model.predict(X) == y).mean())
print(f"numpy backend: loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.3f}")
assert losses[-1] < 0.5 * losses[0] and accuracy > 0.9, (losses, accuracy)
EOF
# As a user sees it: one line on stderr, whatever else gets imported.
err=$("$vpy" -c "import nncore, nncore.cli; nncore.get_ops(); nncore.get_ops('auto')" 2>&1)
[ "$(grep -c KernelsMissingWarning <<<"$err")" = 1 ] || fail "expected one warning, got: $err"
err=$(NNCORE_BACKEND=numpy "$vpy" -c "import nncore; nncore.get_ops()" 2>&1)
[ -z "$err" ] || fail "NNCORE_BACKEND=numpy should silence the warning, got: $err"
cd "$ROOT"

echo "[$((SECONDS - start)) s] == 3. working compiler, broken extension: the install must fail"
if NNCORE_TEST_BREAK_BUILD=1 "$vpy" -m pip install -v --no-deps --force-reinstall "$ROOT" \
        >"$WORK/broken-install.log" 2>&1; then
    fail "pip install succeeded although the extension did not compile"
fi
! grep -q "no working C compiler" "$WORK/broken-install.log" \
    || fail "the working compiler was taken for a missing one"
# The compiler's own message for the injected error (clang quotes the name, gcc does not).
grep -m1 "fatal error: .\?nncore-test-break-build\.h" "$WORK/broken-install.log" \
    || { tail -40 "$WORK/broken-install.log"; fail "the install failed, but not compiling"; }
echo "broken build failed the install, as it must"

echo "no-compiler check passed in $((SECONDS - start)) s"
