#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine is missing, then builds the Python package (into .venv)
# and the Node addon. Sourced by demo.sh and test.sh; safe to run again (it skips what is there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1;34m==> %s\033[0m\n' "$*"; }

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in build-essential cmake ninja-build pkg-config libhiredis-dev liblua5.1-0-dev libasio-dev nlohmann-json3-dev \
           libssl-dev libgtest-dev redis-server redis-tools openssl ccache; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done
command -v python3 >/dev/null || need_apt+=(python3 python3-dev python3-venv)
if command -v python3 >/dev/null && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The core is compiled by pip (Python module), npm (Node addon) and the C++ test build: ccache lets
# the later builds reuse what an earlier one compiled with the same flags.
if command -v ccache >/dev/null; then
  # One compiler cache for every build of the core: paths rewritten relative to the checkout (and
  # the build dir not hashed), so builds that compile the core with the same flags from the same
  # depth share objects: build/py (pip) and build/cpp (ctest), the checkout's build-node and the
  # npm-pack test's build of the tarball.
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}" CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
  # The pip build compiles the core with the C++ test build's flags (-Werror included), so ctest's
  # build finds it cached.
  export SKBUILD_CMAKE_DEFINE="REDKEEPER_WERROR=ON"
  # The compiler's name is part of the cache key: PyPI's cmake would pick g++, Debian's c++.
  export CXX="${CXX:-c++}" CC="${CC:-cc}"
fi

# Python: a project-local virtualenv, so nothing touches the system interpreter.
if [ ! -x .venv/bin/python ]; then
  log "python3 -m venv .venv"
  python3 -m venv .venv
fi
PY="$ROOT/.venv/bin/python"
"$PY" -m pip install -q --upgrade pip >/dev/null
log "pip install .[test] (builds the C++ core and the pybind11 module)"
"$PY" -m pip install -q ".[test]"

# Node: npm install builds the addon with cmake-js (Node-API, headers from the npm registry).
log "npm install (builds the C++ core and the Node addon)"
npm install --no-audit --no-fund --loglevel=error
