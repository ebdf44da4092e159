#!/usr/bin/env bash
# Set up mnas in ./.venv on a fresh machine: the CPU build of torch first (a plain `pip install
# torch` would pull a multi-GB CUDA build), then mnas with its dev extras, then graphviz's `dot`
# where it is missing and we may install it. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/pip show -q torch >/dev/null 2>&1; then
  .venv/bin/pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import torch" || { echo "setup: torch failed to install" >&2; exit 1; }
fi
.venv/bin/pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import mnas, optuna, pandas, networkx, yaml, sklearn" \
  || { echo "setup: installing mnas failed" >&2; exit 1; }
# Compile the bit-packed binary kernels now (once per machine and version, ~10 s), so the
# first test or `mnas bench` does not; without a compiler mnas uses its pure-PyTorch path.
.venv/bin/python -m mnas.kernels.build || echo "setup: kernels not compiled (see above);" \
  "mnas will use the slow pure-PyTorch path" >&2
if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -q graphviz >/dev/null 2>&1 \
      || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q graphviz >/dev/null 2>&1)) \
      || echo "setup: could not install graphviz; 'mnas render' will write .dot files only" >&2
  else
    echo "setup: graphviz 'dot' not found; install it (Debian/Ubuntu: apt-get install graphviz," \
         "macOS: brew install graphviz) for 'mnas render' to draw images" >&2
  fi
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -q postgresql >/dev/null 2>&1 \
      || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql >/dev/null 2>&1)) \
      || echo "setup: could not install postgresql; its storage tests will be skipped" >&2
  else
    echo "setup: PostgreSQL not found; install it (Debian/Ubuntu: apt-get install postgresql)" \
         "for the PostgreSQL storage tests" >&2
  fi
fi
echo "setup: ready (.venv/bin/mnas)"
