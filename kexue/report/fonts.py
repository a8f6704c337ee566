"""Does this machine have a font for the page's Chinese? Missing glyphs render as boxes (tofu).

The page names a CJK font stack (style.py), but a browser can only draw what an installed font holds.
`missing_glyphs(text)` asks fontconfig (`fc-list`, which Chromium itself uses on Linux) whether some
installed font covers every character of `text`, and if none does, which characters no font covers.
"""
from __future__ import annotations

import shutil
import subprocess

LIMIT = 40  # characters looked up one by one when no single font covers them all


def missing_glyphs(text: str) -> list[str]:
    """The characters of `text` (beyond ASCII) that no installed font has, in order of first use."""
    chars = list(dict.fromkeys(c for c in text if not c.isascii() and not c.isspace()))
    if not chars:
        return []
    fc = shutil.which("fc-list")
    if fc is None:
        raise FileNotFoundError("fc-list (fontconfig) is not installed; it tells which fonts the browser has: "
                                "apt-get install fontconfig")
    if _covered(fc, chars):
        return []
    return [c for c in chars[:LIMIT] if not _covered(fc, [c])]


def _covered(fc: str, chars: list[str]) -> bool:
    """Whether one installed font holds every character of `chars`."""
    pattern = ":charset=" + " ".join(f"{ord(c):x}" for c in chars)
    out = subprocess.run([fc, pattern, "family"], capture_output=True, text=True, timeout=60)
    return bool(out.stdout.strip())
