#!/usr/bin/env python3
"""Build the ops-client charm as charmcraft would: the charm's files plus its requirements
vendored into venv/ (pip install --target), with the unit's Python (/usr/bin/python3).

Usage: build.py OUTPUT_DIR   (reuses OUTPUT_DIR when it was built from the same files)
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent
FILES = ("metadata.yaml", "requirements.txt", "dispatch", "src/charm.py")


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + (SOURCE / name).read_bytes())
    return digest.hexdigest()


def build(output: Path) -> Path:
    """Build the charm into output (unless it is already built from these files); return it."""
    stamp = output / ".built-from"
    if stamp.exists() and stamp.read_text() == fingerprint():
        return output
    shutil.rmtree(output, ignore_errors=True)
    (output / "src").mkdir(parents=True)
    for name in FILES:
        shutil.copy2(SOURCE / name, output / name)
    pip = ["/usr/bin/python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    subprocess.run([*pip, "--target", str(output / "venv"), "-r", str(SOURCE / "requirements.txt")], check=True)
    stamp.write_text(fingerprint())
    return output


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
