#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh) and runs the demo on the memory:// backend from Python and Node.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
log "Python demo (examples/demo.py)"
"$ROOT/.venv/bin/python" examples/demo.py
log "Node demo (examples/demo.js)"
node examples/demo.js
log "FastAPI example app under requests (examples/http_demo.py)"
"$ROOT/.venv/bin/python" examples/http_demo.py
log "Express example app under requests (examples/http_demo.js)"
node examples/http_demo.js
