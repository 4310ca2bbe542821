#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh) and runs every test: C++ (ctest), Python (pytest), Node (jest).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
JOBS="$(nproc 2>/dev/null || echo 2)"

log "C++: configure, build (-Wall -Wextra -Werror) and ctest"
# Release, as the pip build of the core in build/py: the compiler cache then serves those objects.
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release -DREDKEEPER_WERROR=ON >/dev/null
cmake --build build/cpp -j "$JOBS"
ctest --test-dir build/cpp --output-on-failure -j "$JOBS"

log "Python: pytest"
"$ROOT/.venv/bin/python" -m pytest tests/python -q

log "Node: jest"
# Two workers: the npm-pack suite spends most of its time compiling while the others wait on I/O.
npx jest --ci --maxWorkers=2

log "all tests passed"
