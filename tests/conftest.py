"""Make the project's layers and interfaces importable as they are in the built charm."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "lib", ROOT / "layers" / "basic" / "lib", ROOT / "layers" / "leadership" / "lib"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# In the built charm every layer's lib/charms/layer/ is one directory; here the
# charm's own part lives beside the base layer's package.
import charms.layer  # noqa: E402

charms.layer.__path__.append(str(ROOT / "lib" / "charms" / "layer"))
