"""Rewrite the op table of docs/spec.md from the op registry (what `python -m mnas ops
--format markdown` prints). tests/ops/test_op_table.py fails until this has been run after
an op was added or changed.

    python docs/update_op_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnas.ops.catalog import with_table  # noqa: E402

DOC = ROOT / "docs" / "spec.md"

if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    new = with_table(text)
    DOC.write_text(new, encoding="utf-8")
    print(f"{DOC}: op table {'rewritten' if new != text else 'already up to date'}")
