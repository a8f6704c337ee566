"""Open a page in headless Chromium and report what a reader would see go wrong.

`check_page` answers: did the page load, how many `<img>` are there and how many decoded, which
console errors and uncaught exceptions did it raise, and did it try to reach the network. It drives
Chromium over the DevTools protocol on `--remote-debugging-pipe` (the browser reads commands on fd 3
and writes replies on fd 4, one JSON message per NUL-terminated chunk), so it needs nothing beyond
the standard library and the `chromium` binary. Every wait is bounded by one deadline, and the
browser's whole process group is killed on the way out, whatever happened.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from kexue.report.fonts import missing_glyphs

# the flags of a quiet, offline, throw-away browser; without the background-networking ones
# Chromium keeps dialling Google services, which a closed network refuses
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--remote-debugging-pipe",
)
# where we look for the browser, after $KEXUE_CHROMIUM
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome")

# the Chinese a reader must be able to read: the posts' quoted sentences and the titles
_QUOTES_JS = """Array.from(document.querySelectorAll('blockquote.quote, h1, h2')).map(e => e.textContent).join('')"""

# run in the page once it has loaded: the images and whether each decoded
_IMAGES_JS = """(() => {
  const imgs = Array.from(document.images);
  const ok = i => i.complete && i.naturalWidth > 0;
  const short = s => s.length > 100 ? s.slice(0, 100) + '…' : s;
  return {title: document.title, images: imgs.length, decoded: imgs.filter(ok).length,
          broken: imgs.filter(i => !ok(i)).map(i => short(i.currentSrc || i.src))};
})()"""
_LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:", "chrome:", "devtools:")


class BrowserError(RuntimeError):
    """Chromium is missing, would not start, or stopped answering."""


def find_chromium() -> str:
    """The path of the Chromium binary: $KEXUE_CHROMIUM, else the first of CHROMIUM_NAMES found."""
    env = os.environ.get("KEXUE_CHROMIUM")
    if env:
        if shutil.which(env) is None:
            raise BrowserError(f"KEXUE_CHROMIUM={env} is not an executable file")
        return str(shutil.which(env))
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("Chromium not found: install it with `apt-get install chromium` "
                       "(or set KEXUE_CHROMIUM to the browser's path)")


def check_page(html_path: Path, timeout: float = 30.0, screenshot: Path | None = None,
               width: int = 1024, height: int = 800, settle: float = 0.3) -> dict[str, Any]:
    """Open `html_path` in headless Chromium and say what loaded and what went wrong.

    Returns {"url", "loaded", "load_error", "title", "images", "images_decoded", "broken_images",
    "console_errors", "external_requests", "missing_glyphs", "screenshot", "seconds", "ok"}; `ok` is
    loaded, every image decoded, no console error or exception, no request off the machine, and a font
    on this machine for every character of the quoted Chinese and the titles (fonts.py). With `screenshot`,
    a PNG of the whole page at `width` CSS pixels is written there (mobile layout below 600).
    `timeout` bounds the whole check, start-up included; `settle` is how long we keep listening
    after the load event for late errors (timers, promise rejections).
    """
    path = Path(html_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such page to check")
    t0 = time.monotonic()
    deadline = t0 + timeout
    with tempfile.TemporaryDirectory(prefix="kexue-chromium-", ignore_cleanup_errors=True) as profile:
        browser = _Chromium(find_chromium(), Path(profile), deadline)
        try:
            report = _inspect(browser, path.as_uri(), deadline, screenshot, width, height, settle)
        finally:
            browser.close()
    report["missing_glyphs"] = missing_glyphs(report.pop("quoted_text", ""))
    report["seconds"] = round(time.monotonic() - t0, 2)
    report["ok"] = bool(report["loaded"] and report["images"] == report["images_decoded"]
                        and not report["console_errors"] and not report["external_requests"]
                        and not report["missing_glyphs"])
    return report


def _inspect(browser: "_Chromium", url: str, deadline: float, screenshot: Path | None,
             width: int, height: int, settle: float) -> dict[str, Any]:
    report: dict[str, Any] = {"url": url, "loaded": False, "load_error": None, "title": "",
                              "images": 0, "images_decoded": 0, "broken_images": [],
                              "console_errors": [], "external_requests": [], "screenshot": None}
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.on_event = lambda msg: _collect(msg, session, report)
    for domain in ("Runtime", "Log", "Page", "Network"):
        browser.call(f"{domain}.enable", session=session)
    browser.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                 "deviceScaleFactor": 1, "mobile": width < 600}, session=session)
    nav = browser.call("Page.navigate", {"url": url}, session=session)
    if nav.get("errorText"):
        report["load_error"] = f"navigation failed: {nav['errorText']}"
        return report
    fired = browser.wait_for(lambda m: m.get("method") == "Page.loadEventFired"
                             and m.get("sessionId") == session)
    if not fired:
        report["load_error"] = "the load event did not fire before the timeout"
        return report
    report["loaded"] = True
    browser.listen(min(settle, max(0.0, deadline - time.monotonic())))
    found = browser.call("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True},
                         session=session)
    value = found.get("result", {}).get("value") or {}
    report.update(title=value.get("title", ""), images=value.get("images", 0),
                  images_decoded=value.get("decoded", 0), broken_images=value.get("broken", []))
    quoted = browser.call("Runtime.evaluate", {"expression": _QUOTES_JS, "returnByValue": True}, session=session)
    report["quoted_text"] = quoted.get("result", {}).get("value") or ""
    if screenshot is not None:
        size = browser.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        }, session=session)
        Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        report["screenshot"] = str(screenshot)
    return report


def _collect(msg: dict[str, Any], session: str, report: dict[str, Any]) -> None:
    """Sort one DevTools event into the report: console errors, exceptions, network requests."""
    if msg.get("sessionId") != session:
        return
    method, p = msg.get("method"), msg.get("params", {})
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        text = " ".join(str(a.get("value", a.get("description", a.get("unserializableValue", ""))))
                        for a in p.get("args", []))
        report["console_errors"].append(f"console.{p['type']}: {text}")
    elif method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        text = d.get("exception", {}).get("description") or d.get("text", "")
        report["console_errors"].append(f"exception: {text.splitlines()[0] if text else '?'}")
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        e = p["entry"]
        report["console_errors"].append(f"{e.get('source', 'log')}: {e.get('text', '')}"
                                        + (f" ({e['url'][:100]})" if e.get("url") else ""))
    elif method == "Network.requestWillBeSent":
        url = p.get("request", {}).get("url", "")
        if not url.startswith(_LOCAL_SCHEMES):
            report["external_requests"].append(url)
    elif method == "Inspector.targetCrashed":
        report["console_errors"].append("the page's renderer crashed")


class _Chromium:
    """A headless Chromium spoken to over its DevTools pipe; `close()` always kills it."""

    def __init__(self, binary: str, profile: Path, deadline: float):
        self.deadline = deadline
        self.on_event: Any = None
        self._next_id = 0
        self._buffer = b""
        self._log = tempfile.TemporaryFile()  # Chromium's stderr, for error messages
        # our ends of the two pipes, kept; the child's ends go to its fds 3 (commands) and 4 (replies)
        cmd_read, self._cmd_write = os.pipe()
        self._reply_read, reply_write = os.pipe()
        # move the child's ends above 9 first, so that dup2 to 3 and 4 cannot overwrite one another
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_read, reply_write)]
        devnull = os.open(os.devnull, os.O_RDONLY)
        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        try:
            self.pid = os.posix_spawn(binary, args, dict(os.environ), setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, high[0], 3), (os.POSIX_SPAWN_DUP2, high[1], 4)])
        except OSError as e:
            for fd in (self._cmd_write, self._reply_read):
                os.close(fd)
            self._log.close()
            raise BrowserError(f"cannot start {binary}: {e.strerror}") from None
        finally:
            for fd in (cmd_read, reply_write, devnull, *high):
                os.close(fd)
        self._alive = True

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and wait (until the deadline) for its reply; events go to on_event."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._write(json.dumps(msg).encode() + b"\0")
        want = self._next_id
        reply = self.wait_for(lambda m: m.get("id") == want)
        if reply is None:
            raise BrowserError(f"Chromium did not answer {method} before the timeout")
        if "error" in reply:
            raise BrowserError(f"Chromium refused {method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_for(self, match: Any) -> dict[str, Any] | None:
        """Read messages until one matches (returned) or the deadline passes (None)."""
        while True:
            msg = self._read(self.deadline)
            if msg is None:
                return None
            if "method" in msg and self.on_event is not None:
                self.on_event(msg)
            if match(msg):
                return msg

    def listen(self, seconds: float) -> None:
        """Handle events for `seconds` (bounded by the deadline)."""
        until = min(self.deadline, time.monotonic() + seconds)
        while (msg := self._read(until)) is not None:
            if "method" in msg and self.on_event is not None:
                self.on_event(msg)

    def close(self) -> None:
        """Ask the browser to quit, then kill its process group; safe to call twice."""
        if not self._alive:
            return
        self._alive = False
        try:
            self._next_id += 1
            self._write(json.dumps({"id": self._next_id, "method": "Browser.close"}).encode() + b"\0")
        except BrowserError:
            pass  # the pipe is already gone: the browser has exited or is about to be killed
        for sig, grace in ((None, 2.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                try:
                    os.killpg(self.pid, sig)  # the session we created for it: the browser and its helpers
                except ProcessLookupError:
                    break
            if self._reaped(grace):
                if sig is None:
                    # the browser quit; its helpers may linger a moment, end them too
                    try:
                        os.killpg(self.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass  # they have all gone already
                break
        self._wait_group_gone(2.0)
        for fd in (self._cmd_write, self._reply_read):
            os.close(fd)
        self._log.close()

    # --- pipe plumbing ---

    def _write(self, data: bytes) -> None:
        while data:
            _, ready, _ = select.select([], [self._cmd_write], [], max(0.0, self.deadline - time.monotonic()))
            if not ready:
                raise BrowserError("Chromium stopped reading its DevTools pipe")
            try:
                data = data[os.write(self._cmd_write, data):]
            except BrokenPipeError:
                raise BrowserError(f"Chromium exited early: {self._stderr_tail()}") from None

    def _read(self, until: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            left = until - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._reply_read], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._reply_read, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium exited early: {self._stderr_tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _reaped(self, grace: float) -> bool:
        end = time.monotonic() + grace
        while time.monotonic() < end:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return True
            time.sleep(0.05)
        return False

    def _wait_group_gone(self, grace: float) -> None:
        """Give the killed helpers (zygote, renderer) a moment to leave the process group."""
        end = time.monotonic() + grace
        while time.monotonic() < end and self._group_alive():
            time.sleep(0.05)

    def _group_alive(self) -> bool:
        """Whether a live (not zombie) process is left in the browser's process group."""
        proc = Path("/proc")
        if not proc.is_dir():  # not Linux: ask the kernel, which counts zombies as members
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return False
            return True
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and brackets
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == self.pid and state != "Z":
                return True
        return False

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "no output"
