"""Make the project's layers and interfaces importable as they are in the built charm."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "lib", ROOT / "layers" / "basic" / "lib", ROOT / "layers" / "leadership" / "lib"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
