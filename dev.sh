#!/usr/bin/env bash
# Set up and run jupyter_rt on a fresh machine.
#
#   bash dev.sh lab  [jupyter lab args...]   set up, then start JupyterLab on notebooks/
#   bash dev.sh test [pytest args...]        set up + test tools, then ruff, mypy and pytest
#                                             (the same checks as .pre-commit-config.yaml)
#   bash dev.sh setup                         only set up
#
# Setup: a virtual environment (the active one, else .venv), `pip install -e ".[test]"`, the
# JupyterLab extension built from labextension/ and linked into the environment. Each step is
# skipped when nothing it depends on changed, so a second run is quick.
#
# Environment: PYTHON (interpreter for a new .venv, default python3), JUPYTER_RT_REQUIRE_ALL=1
# (CI: tests may not skip for a missing tool, and a failed labextension build is fatal).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

REQUIRE_ALL="${JUPYTER_RT_REQUIRE_ALL:-0}"
[ "$REQUIRE_ALL" = "0" ] && REQUIRE_ALL=""
IS_ROOT=""
[ "$(id -u)" = "0" ] && IS_ROOT=1

T0=$SECONDS
PHASE_START=$SECONDS
say() { printf '[dev.sh] %s\n' "$*"; }
warn() { printf '[dev.sh] WARNING: %s\n' "$*" >&2; }
die() { printf '[dev.sh] ERROR: %s\n' "$*" >&2; exit 1; }
phase() { PHASE_START=$SECONDS; say "== $*"; }
done_phase() { say "   done in $((SECONDS - PHASE_START))s"; }

# ------------------------------------------------------------------------------------ apt

APT_UPDATED=""
apt_install() {
    # apt_install PACKAGE... : install Debian packages (root only); returns 1 if impossible.
    if [ -z "$IS_ROOT" ] || ! command -v apt-get >/dev/null 2>&1; then
        warn "missing $*; install it with: sudo apt-get install $*"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$APT_UPDATED" ]; then
        apt-get update -qq || warn "apt-get update failed"
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_node() {
    command -v node >/dev/null 2>&1 && return 0
    apt_install nodejs || return 1
}

# ------------------------------------------------------------------------------ python env

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

ensure_venv() {
    if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        VENV="$VIRTUAL_ENV"
    else
        VENV="$ROOT/.venv"
        if [ ! -x "$VENV/bin/python" ]; then
            local py="${PYTHON:-python3}"
            command -v "$py" >/dev/null 2>&1 || die "$py not found; set PYTHON=/path/to/python3.10+"
            "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
                || die "$py is $("$py" -V 2>&1); jupyter_rt needs Python >= 3.10"
            say "creating .venv with $("$py" -V 2>&1)"
            if ! "$py" -m venv "$VENV"; then
                rm -rf "$VENV"
                apt_install python3-venv && "$py" -m venv "$VENV" || die "cannot create .venv"
            fi
        fi
    fi
    export VIRTUAL_ENV="$VENV"
    export PATH="$VENV/bin:$PATH"
    PY="$VENV/bin/python"
}

quiet_pip() {
    # Drop pip's notes about configured local indexes that are absent; keep everything else.
    { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }
}

quiet_yarn() {
    # Keep yarn's warnings and errors, drop its per-package progress lines.
    { grep -v -E "YN0013|YN0000: (│|┌|└)" || true; }
}

pip_install() {
    # Reinstall only when the packaging metadata or the interpreter changed.
    local stamp="$VENV/.jupyter_rt-install" want
    want="$(hash_of pyproject.toml setup.py; "$PY" -VV)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && "$PY" -c 'from importlib.metadata import version as v
for p in ("jupyter_rt", "pytest", "jupyterlab"): v(p)' >/dev/null 2>&1; then
        say "python packages up to date (pyproject.toml unchanged)"
        return 0
    fi
    say "pip install -e \".[test]\""
    "$PY" -m pip install -q --upgrade pip 2>&1 | quiet_pip
    # The labextension is built by build_labextension below, with clear logs and a staleness check;
    # a plain `pip install .` builds it through hatch-jupyter-builder instead.
    HATCH_JUPYTER_BUILDER_SKIP_NPM=1 "$PY" -m pip install -q -e ".[test]" 2>&1 | quiet_pip
    echo "$want" >"$stamp"
}

# --------------------------------------------------------------------------- labextension

LAB_BUILD="jupyter_rt/labextension"

labextension_stale() {
    # Any file of labextension/ newer than the build (hatch-jupyter-builder's own check, used by
    # `pip install`, looks at labextension/src only: a package.json or style change would be missed).
    [ -f "$LAB_BUILD/package.json" ] || return 0
    [ -f jupyter_rt/static/admin-ui/index.html ] || return 0
    [ -n "$(find labextension -path labextension/node_modules -prune -o -path labextension/lib \
        -prune -o -path labextension/.yarn -prune -o -type f -newer "$LAB_BUILD/package.json" \
        -print -quit)" ]
}

build_labextension() {
    if labextension_stale; then
        ensure_node || { lab_failed "node is missing"; return 0; }
        say "building the JupyterLab extension (jlpm install && jlpm build in labextension/)"
        if ! (cd labextension && jlpm install | quiet_yarn && jlpm build); then
            lab_failed "the labextension build failed"
            return 0
        fi
    else
        say "JupyterLab extension up to date"
    fi
    link_labextension
}

lab_failed() {
    if [ -n "$REQUIRE_ALL" ]; then die "$1"; fi
    warn "$1; JupyterLab will run without the jupyter_rt widgets"
}

link_labextension() {
    [ -f "$LAB_BUILD/package.json" ] || return 0
    local dest="$VENV/share/jupyter/labextensions/jupyter-rt"
    if [ -L "$dest" ] && [ "$(readlink -f "$dest")" = "$(readlink -f "$LAB_BUILD")" ]; then
        return 0
    fi
    jupyter-builder develop --overwrite . >/dev/null || die "jupyter-builder develop failed"
    say "linked $LAB_BUILD into the environment"
}

setup() {
    phase "python environment"
    ensure_venv
    pip_install
    done_phase
    phase "JupyterLab extension"
    build_labextension
    done_phase
}

# ---------------------------------------------------------------------------------- tests

test_tools() {
    phase "test tools (redis-server, chromium, node packages)"
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
        missing+=(chromium fonts-liberation)
    fi
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}" || warn "tests needing ${missing[*]} will be skipped"
    fi
    local dir
    for dir in tests/node bench; do
        [ -f "$dir/package.json" ] || continue
        if ! command -v node >/dev/null 2>&1; then
            warn "node missing: not installing $dir"
            continue
        fi
        say "jlpm install in $dir"
        (cd "$dir" && jlpm install | quiet_yarn) || die "jlpm install failed in $dir (is yarn.lock committed?)"
    done
    done_phase
}

run_tests() {
    local failed=()
    phase "ruff check, ruff format --check"
    ruff check . || failed+=("ruff check")
    ruff format --check . || failed+=("ruff format (run: ruff format .)")
    done_phase
    phase "mypy --strict jupyter_rt"
    mypy --strict jupyter_rt || failed+=(mypy)
    done_phase
    say "setup and checks took $((SECONDS - T0))s; running pytest"
    [ ${#failed[@]} -gt 0 ] && warn "${failed[*]} failed (see above); running pytest anyway"
    local rc=0
    "$PY" -m pytest "$@" || rc=$?
    if [ ${#failed[@]} -gt 0 ]; then
        say "FAILED: ${failed[*]}"
        [ $rc -ne 0 ] || rc=1
    fi
    return $rc
}

# ----------------------------------------------------------------------------------- main

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    lab)
        setup
        root_dir="$ROOT"
        [ -d notebooks ] && root_dir="$ROOT/notebooks"
        args=(--ServerApp.root_dir="$root_dir")
        [ -n "$IS_ROOT" ] && args+=(--allow-root)
        [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && args+=(--no-browser)
        say "starting: jupyter lab ${args[*]} $*"
        exec jupyter lab "${args[@]}" "$@"
        ;;
    test)
        setup
        test_tools
        run_tests "$@"
        ;;
    setup)
        setup
        ;;
    *)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
