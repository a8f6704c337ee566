"""kexue/report/browser.py: the rendered page in headless Chromium, and a page that must fail the check."""
from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.report import browser
from kexue.report import BrowserError, check_page, render_report
from kexue.report.cli import app

HAVE_CHROMIUM = Path("/usr/bin/chromium").is_file() or shutil.which("chromium") is not None
needs_chromium = pytest.mark.skipif(
    not HAVE_CHROMIUM, reason="Chromium is not installed: apt-get install chromium")

# a broken file image, an image that cannot decode, a console.error, a late uncaught exception and
# a request off the machine (port 9 on localhost: refused at once, so the load is not held up)
BAD_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body>
<img src="missing.png"><img src="data:image/png;base64,AAAA"><img src="http://127.0.0.1:9/x.png">
<script>console.error("boom", 42); setTimeout(() => { throw new Error("late"); }, 10);</script>
</body></html>"""


def _browsers() -> set[int]:
    """The pids of browsers that check_page started (their profile folder names them)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"kexue-chromium-" in (proc / "cmdline").read_bytes():
                    pids.add(int(proc.name))
            except OSError:
                continue  # the process ended while we looked
    return pids


@needs_chromium
def test_rendered_page_loads_with_every_image_decoded(sample_out: Path) -> None:
    before = _browsers()
    report = check_page(render_report(sample_out), timeout=60)
    assert report["loaded"] and report["load_error"] is None
    assert report["title"] == "kexue reproduce — 科学空间|Scientific Spaces"
    assert report["images"] == 3
    assert report["images_decoded"] == 3 and report["broken_images"] == []
    assert report["console_errors"] == []
    assert report["external_requests"] == []
    assert report["ok"] is True
    assert _browsers() <= before  # the browser and its helpers are gone


@needs_chromium
def test_phone_screenshot(sample_out: Path, tmp_path: Path) -> None:
    shot = tmp_path / "phone.png"
    report = check_page(render_report(sample_out), timeout=60, screenshot=shot, width=390)
    assert report["ok"] and report["screenshot"] == str(shot)
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width == 390 and height > 2000  # the whole page, not only the first screen


@needs_chromium
def test_bad_page_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(BAD_PAGE, encoding="utf-8")
    before = _browsers()
    report = check_page(page, timeout=60)
    assert report["loaded"]  # it loads, but:
    assert report["ok"] is False
    assert report["images"] == 3 and report["images_decoded"] == 0
    assert any(src.endswith("/missing.png") for src in report["broken_images"])
    errors = "\n".join(report["console_errors"])
    assert "console.error: boom 42" in errors
    assert "exception: Error: late" in errors
    assert "ERR_FILE_NOT_FOUND" in errors
    assert report["external_requests"] == ["http://127.0.0.1:9/x.png"]
    assert _browsers() <= before


@needs_chromium
def test_cli_check_exit_codes(sample_out: Path, tmp_path: Path) -> None:
    good = CliRunner().invoke(app, ["check", str(render_report(sample_out)), "--json"])
    assert good.exit_code == 0, good.output
    assert '"images_decoded": 3' in good.output
    bad_page = tmp_path / "bad.html"
    bad_page.write_text(BAD_PAGE, encoding="utf-8")
    bad = CliRunner().invoke(app, ["check", str(bad_page)])
    assert bad.exit_code == 1
    assert "boom" in bad.output


@needs_chromium
def test_timeout_is_bounded_and_browser_killed(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<!DOCTYPE html><title>p</title>", encoding="utf-8")
    before = _browsers()
    with pytest.raises(BrowserError, match="did not answer .* before the timeout"):
        check_page(page, timeout=0.05)
    assert _browsers() <= before


def test_missing_chromium_names_apt_get(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KEXUE_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "CHROMIUM_NAMES", ("no-such-chromium-here",))
    page = tmp_path / "p.html"
    page.write_text("<!DOCTYPE html><title>p</title>", encoding="utf-8")
    with pytest.raises(BrowserError, match=r"apt-get install chromium"):
        check_page(page)
    monkeypatch.setenv("KEXUE_CHROMIUM", os.fspath(tmp_path / "nothing"))
    with pytest.raises(BrowserError, match="KEXUE_CHROMIUM=.* is not an executable"):
        browser.find_chromium()


def test_missing_page(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such page"):
        check_page(tmp_path / "absent.html")


def test_the_page_has_a_font_for_its_chinese() -> None:
    """`make test` installs a CJK font; `report check` fails where none is (the quotes would be boxes)."""
    from kexue.report.fonts import missing_glyphs

    assert missing_glyphs("会有一定的升秩作用 — 科学空间") == []
    # the control: a private-use character no font draws is reported, as a CJK text would be without a font
    assert missing_glyphs("科学\ue000空间") == ["\ue000"]


def test_the_page_names_a_cjk_font_stack_and_make_demo_installs_one_of_it(sample_out: Path) -> None:
    """Issue 24 §7: the page's CSS names CJK families (macOS, Windows, Noto, the WenQuanYi font that
    `make fonts` installs); `make demo` and `make test` install that font where they run as root."""
    import re

    page = render_report(sample_out).read_text(encoding="utf-8")
    sans = re.search(r"--sans:([^;]+);", page).group(1)
    serif = re.search(r"--serif:([^;]+);", page).group(1)
    for family in ('"PingFang SC"', '"Microsoft YaHei"', '"Noto Sans CJK SC"', '"WenQuanYi Micro Hei"'):
        assert family in sans, family
    assert '"Noto Serif CJK SC"' in serif and "var(--serif)" in page and "var(--sans)" in page
    make = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    targets = {m.group(1): m.group(2).split() for m in re.finditer(r"^([\w-]+):(.*)$", make, re.M)}
    assert "fonts" in targets["demo"] and "fonts" in targets["test"], targets
    recipe = make.split("\nfonts:", 1)[1].split("\n\n", 1)[0]
    assert 'id -u)" = 0' in recipe and "install -y -qq fonts-wqy-microhei" in recipe, recipe


@needs_chromium
def test_check_fails_on_glyphs_no_font_has(tmp_path: Path) -> None:
    page = tmp_path / "tofu.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>'
                    '<blockquote class="quote">科学\ue000空间</blockquote></body></html>', encoding="utf-8")
    report = check_page(page, timeout=60)
    assert report["loaded"] and report["missing_glyphs"] == ["\ue000"] and report["ok"] is False
    r = CliRunner().invoke(app, ["check", str(page)])
    assert r.exit_code == 1 and "no installed font has" in " ".join(r.output.split())
