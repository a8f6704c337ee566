"""The size of an install: `pip install kexue` against `kexue[reproduce]` (and the serve and onnx extras).

    .venv/bin/python benchmarks/install_size.py                # every variant, fresh venvs in a temp folder
    .venv/bin/python benchmarks/install_size.py --python python3.11
    .venv/bin/python benchmarks/install_size.py --variants 'kexue[reproduce];kexue'   # some, merged into the file

Each variant is a fresh venv where `pip install -c constraints.txt '.[EXTRAS]'` installs this checkout (not
editable) with its dependencies, as a user's `pip install 'kexue[EXTRAS]'` would (torch pinned to the CPU
build by constraints.txt). Measured: the bytes under site-packages (`du -sb`: pip and setuptools of the bare
venv included, and given apart), the number of installed distributions, and the largest ones.
Writes benchmarks/results/install-size.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"kexue": "", "kexue[onnx]": "onnx", "kexue[serve]": "serve", "kexue[reproduce]": "reproduce",
            "kexue[reproduce,serve,onnx]": "reproduce,serve,onnx"}


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def largest(sp: Path, k: int = 8) -> list[dict]:
    sizes = [(du(p), p.name) for p in sp.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", "__pycache__"))]
    return [{"name": n, "bytes": b} for b, n in sorted(sizes, reverse=True)[:k]]


def measure(python: str, tmp: Path, name: str, extras: str) -> dict:
    venv = tmp / name.replace("[", "-").replace("]", "").replace(",", "-")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    bare = du(site_packages(venv))
    spec = f"{ROOT}[{extras}]" if extras else str(ROOT)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                    spec], check=True)
    sp = site_packages(venv)
    dists = [p.name for p in sp.glob("*.dist-info")]
    row = {"variant": name, "site_packages_bytes": du(sp), "bare_venv_bytes": bare,
           "distributions": len(dists), "largest": largest(sp)}
    print(f"{name}: {row['site_packages_bytes'] / 2**20:.0f} MiB, {len(dists)} distributions", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="the interpreter the venvs are made with")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="which, ';'-separated (default: all)")
    args = ap.parse_args()
    out = ROOT / "benchmarks" / "results" / "install-size.json"
    # each variant is written as soon as it is measured, over the file's row of the same variant
    old = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {"rows": []}
    rows = {r["variant"]: r for r in old["rows"]}
    names = args.variants.split(";") if args.variants != ",".join(VARIANTS) else list(VARIANTS)
    with tempfile.TemporaryDirectory(prefix="kexue-install-") as d:
        for name in names:
            rows[name] = measure(args.python, Path(d), name, VARIANTS[name])
            ordered = [rows[v] for v in VARIANTS if v in rows]
            base = rows.get("kexue", {}).get("site_packages_bytes")
            for r in ordered:
                r["ratio_to_kexue"] = round(r["site_packages_bytes"] / base, 3) if base else None
            out.write_text(json.dumps({"python": args.python, "constraints": (ROOT / "constraints.txt").read_text()
                                       .strip().splitlines()[-1], "rows": ordered}, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
