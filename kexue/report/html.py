"""One static HTML page from `results.json`: every post's claims, figures, metrics and verdicts.

The page is laid out like the kexue.fm front page (科学空间|Scientific Spaces): a masthead, then one
entry per post, newest post first as on the blog (posts of the same date keep the order of
results.json). It is a single self-contained file: the stylesheet is inline and every figure is
embedded as a base64 `data:` URI, so `index.html` can be mailed or moved alone and opens offline.
Every piece of text from results.json goes through `html.escape`.
"""
from __future__ import annotations

import base64
import json
import re
import struct
from html import escape
from pathlib import Path
from typing import Any

from kexue.report.load import data_uri, figure_paths, read_results
from kexue.report.style import CSS
from kexue.result import VERDICTS, TopicResult

SITE_NAME = "科学空间|Scientific Spaces"
SITE_URL = "https://kexue.fm"
DESCRIPTION = ("kexue reproduce：在一台笔记本 CPU 上重跑苏剑林文章中的论断 · "
               "the claims of kexue.fm posts, re-run on a laptop CPU")
VERDICT_LABELS: dict[str, str] = {"held": "held 成立", "not held": "not held 未成立",
                                  "inconclusive": "inconclusive 未定",
                                  "not checkable": "not checkable 无法检验"}


def render_report(out_dir: Path) -> Path:
    """Read `out_dir/results.json`, write `out_dir/index.html` and return its path."""
    out_dir = Path(out_dir)
    meta, results = read_results(out_dir)
    page = render_page(meta, results, out_dir)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def render_page(meta: dict[str, Any], results: list[TopicResult], out_dir: Path) -> str:
    """The whole page as a string; figures are read from `out_dir` and embedded."""
    # newest post first, like the blog; sorted() is stable, so equal dates keep the given order
    ordered = sorted(results, key=lambda r: r.date, reverse=True)
    original = {id(r): i for i, r in enumerate(results)}
    posts = "\n".join(_post(r, original[id(r)], out_dir) for r in ordered)
    if not results:
        posts = '<article class="post"><p class="empty">results.json lists no topics.</p></article>'
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="kexue {_e(_get(meta, 'versions', 'kexue'))}">
<title>kexue reproduce — {_e(SITE_NAME)}</title>
<style>{CSS}</style>
</head>
<body>
<div class="site">
<header class="masthead">
<h1><a href="{SITE_URL}">{_e(SITE_NAME)}</a></h1>
<p>{_e(DESCRIPTION)}</p>
</header>
<main>
{_summary(meta, ordered)}
{posts}
</main>
{_colophon(meta, results)}
</div>
</body>
</html>
"""


# --- the parts of the page, top to bottom ---


def _summary(meta: dict[str, Any], results: list[TopicResult]) -> str:
    claims = [c for r in results for c in r.claims]
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    items = [f'<li><b>{len(claims)}</b> claims</li>']
    items += [f'<li><b>{counts[v]}</b> <span class="badge {_cls(v)}">{_e(VERDICT_LABELS[v])}</span></li>'
              for v in VERDICTS]
    checks = [c for r in results for c in r.checks]
    if checks:  # identities are verified apart, and not counted among the claims
        passed = sum(c.verdict == "held" for c in checks)
        items.append(f'<li><b>{passed} / {len(checks)}</b> identities verified 恒等式</li>')
    items.append(f'<li><b>{_e(_duration(_total_seconds(meta, results)))}</b> total</li>')
    rows = "\n".join(
        f'<tr><td class="date">{r.date}</td><td><a href="#{_anchor(r)}">{_e(r.title)}</a></td>'
        f'<td>{_e(r.preset)}</td>'
        f'<td class="num">{sum(c.verdict == "held" for c in r.claims)} / {len(r.claims)}</td></tr>'
        for r in results)
    preset = _e(meta.get("preset", "—"))
    smoke = ""
    if meta.get("preset") == "smoke":
        smoke = ('<p class="smoke"><b>smoke preset: a wiring test at toy sizes.</b> Its verdicts mean nothing; '
                 'run <code>--preset quick</code> or <code>--preset standard</code> for the claims.</p>\n')
    if meta.get("complete") is False:  # kexue reproduce saves the page after each topic, complete at the end
        left = ", ".join(str(t) for t in meta.get("to_run") or []) or "—"
        smoke += (f'<p class="smoke"><b>incomplete: not finished when this page was saved: {_e(left)}.</b> '
                  'A run that stopped keeps the topics that finished; run the others with the same '
                  '<code>--out</code> to add them.</p>\n')
    return f"""<section class="summary" id="summary">
<h2>Summary · 总览 <span class="byline">preset {preset} · {len(results)} posts</span></h2>
{smoke}<ul class="counts">{"".join(items)}</ul>
<div class="scroll"><table>
<thead><tr><th>date</th><th>post</th><th>preset</th><th>held</th></tr></thead>
<tbody>
{rows}
</tbody></table></div>
</section>"""


def _post(r: TopicResult, index: int, out_dir: Path) -> str:
    url = f"{SITE_URL}/archives/{r.post}"
    byline = [f"<span>{_e(r.date)}</span>",
              f'<span><a href="{url}">kexue.fm/archives/{r.post}</a></span>',
              f"<span>topic <code>{_e(r.topic)}</code></span>",
              f"<span>preset {_e(r.preset)}</span>",
              f"<span>{_e(_duration(r.seconds))}</span>"]
    if r.related_posts:
        links = ", ".join(f'<a href="{SITE_URL}/archives/{p}">{p}</a>' for p in r.related_posts)
        byline.append(f"<span>related 相关: {links}</span>")
    figures = figure_paths(r)
    number = {f: k + 1 for k, f in enumerate(figures)}
    return f"""<article class="post" id="{_anchor(r)}">
<h2><a href="{url}">{_e(r.title)}</a></h2>
<p class="byline">{" ".join(byline)}</p>
<h3>Claims · 论断</h3>
{_claims(r, number)}
{_checks(r, number)}
{_figures(r, index, figures, out_dir)}
{_metrics(r.metrics)}
</article>"""


def _claims(r: TopicResult, number: dict[str, int]) -> str:
    if not r.claims:
        return '<p class="empty">No claims checked for this post.</p>'
    rows = []
    for i, c in enumerate(r.claims, 1):
        ref = ""
        if c.figure is not None:
            ref = f' <a class="figref" href="#{_anchor(r)}-fig{number[c.figure]}">→ 图 {number[c.figure]}</a>'
        rows.append(f'<tr><td class="num">{i}</td><td>{_e(c.claim)}{ref}{_quote(c.quote, c.source)}</td>'
                    f'<td class="measured">{_e(c.measured)}{_evidence(c.evidence)}{_rule(c.rule)}'
                    f'{_needs(c.needs)}</td>'
                    f'<td class="verdict"><span class="badge {_cls(c.verdict)}">'
                    f'{_e(VERDICT_LABELS[c.verdict])}</span></td></tr>')
    body = "\n".join(rows)
    return f"""<div class="scroll"><table class="claims">
<thead><tr><th>#</th><th>claim</th><th>measured</th><th>verdict</th></tr></thead>
<tbody>
{body}
</tbody></table></div>"""


def _checks(r: TopicResult, number: dict[str, int]) -> str:
    """The identities and definitions verified on the code, each with its negative control."""
    if not r.checks:
        return ""
    rows = []
    for i, c in enumerate(r.checks, 1):
        ref = ""
        if c.figure is not None:
            ref = f' <a class="figref" href="#{_anchor(r)}-fig{number[c.figure]}">→ 图 {number[c.figure]}</a>'
        control = f'<p class="rule">negative control 反例: {_e(c.control)}</p>' if c.control else ""
        rows.append(f'<tr><td class="num">{i}</td><td>{_e(c.identity)}{ref}</td>'
                    f'<td class="measured">{_e(c.measured)}{_rule(c.rule)}{control}</td>'
                    f'<td class="verdict"><span class="badge {_cls(c.verdict)}">'
                    f'{_e(VERDICT_LABELS[c.verdict])}</span></td></tr>')
    body = "\n".join(rows)
    return f"""<h3>Identities verified · 恒等式 <span class="byline">not claims: they cannot come out otherwise
unless the code is wrong, so each has a deliberately wrong variant that must be rejected</span></h3>
<div class="scroll"><table class="claims checks">
<thead><tr><th>#</th><th>identity</th><th>measured</th><th>verified</th></tr></thead>
<tbody>
{body}
</tbody></table></div>"""


def _quote(quote: str, source: int | None) -> str:
    """The post's own sentence that makes the claim, with the post it is from."""
    if not quote:
        return ""
    cite = f' — <a href="{SITE_URL}/archives/{source}">{source}</a>' if source else ""
    return f'<blockquote class="quote" lang="zh-CN">“{_e(quote)}”{cite}</blockquote>'


def _needs(needs: str) -> str:
    return f'<p class="needs">what would decide it 如何判定: {_e(needs)}</p>' if needs else ""


def _evidence(evidence: dict[str, Any] | None) -> str:
    """Each side's per-seed values as mean ± standard deviation (n), under the measured text."""
    if not evidence:
        return ""
    items = []
    for name, s in evidence.items():
        n, mean, std = s.get("n", 1), s.get("mean"), s.get("std", 0.0)
        text = f"{_value(mean)}" if n == 1 else f"{_value(mean)} ± {_value(std)} (n={n})"
        items.append(f"<li>{_e(name)}: {_e(text)}</li>")
    return f'<ul class="evidence">{"".join(items)}</ul>'


def _rule(rule: str) -> str:
    return f'<p class="rule">rule 判据: {_e(rule)}</p>' if rule else ""


def _figures(r: TopicResult, index: int, figures: list[str], out_dir: Path) -> str:
    if not figures:
        return ""
    parts = ["<h3>Figures · 图</h3>"]
    for k, fig in enumerate(figures, 1):
        where = _field_of(r, index, fig)
        uri = data_uri(out_dir, fig, where)
        about = [f"论断 {i}: {c.claim}" for i, c in enumerate(r.claims, 1) if c.figure == fig]
        caption = f"图 {k} · <code>{_e(fig)}</code>"
        if about:
            caption += " — " + _e("; ".join(about))
        size = _png_size(uri)
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        parts.append(f'<figure id="{_anchor(r)}-fig{k}"><img src="{uri}"{dims} '
                     f'alt="{_e(Path(fig).name)}">\n<figcaption>{caption}</figcaption></figure>')
    return "\n".join(parts)


def _metrics(metrics: dict[str, Any]) -> str:
    if not metrics:
        return ""
    rows = "\n".join(f"<tr><td>{_e(k)}</td><td>{_e(_value(v))}</td></tr>"
                     for k, v in _flatten(metrics))
    return f"""<h3>Key metrics · 指标</h3>
<div class="scroll"><table class="kv"><tbody>
{rows}
</tbody></table></div>"""


def _colophon(meta: dict[str, Any], results: list[TopicResult]) -> str:
    run = [("command", meta.get("command")), ("preset", meta.get("preset")),
           ("started", meta.get("started")),
           ("time taken", _duration(_total_seconds(meta, results)))]
    machine = [(f"machine.{k}", v) for k, v in _flatten(meta.get("machine") or {})]
    versions = [(f"versions.{k}", v) for k, v in _flatten(meta.get("versions") or {})]
    rows = "\n".join(f"<tr><td>{_e(k)}</td><td>{_e(_value(v))}</td></tr>"
                     for k, v in run + machine + versions)
    return f"""<footer class="colophon">
<h2>This run · 运行环境</h2>
<div class="scroll"><table class="kv"><tbody>
{rows}
</tbody></table></div>
<p>Written by <code>kexue reproduce</code>; posts © 苏剑林 at <a href="{SITE_URL}">kexue.fm</a>.</p>
</footer>"""


# --- small helpers ---


def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _cls(verdict: str) -> str:
    return verdict.replace(" ", "-")


def _anchor(r: TopicResult) -> str:
    return "post-" + re.sub(r"[^A-Za-z0-9_-]", "-", r.topic)


def _get(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return "—"
        d = d[k]
    return d


def _total_seconds(meta: dict[str, Any], results: list[TopicResult]) -> float:
    seconds = meta.get("seconds")
    return float(seconds) if seconds is not None else sum(r.seconds for r in results)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects become dotted keys: {"a": {"b": 1}} → [("a.b", 1)]."""
    rows: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            rows += _flatten(v, key + ".")
        else:
            rows.append((key, v))
    return rows


def _value(v: Any) -> str:
    """A metric as text: 4 significant digits for floats, compact JSON for lists."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        text = json.dumps(v, ensure_ascii=False, separators=(", ", ": "),
                          default=str)
        return text if len(text) <= 300 else text[:299] + "…"
    return str(v)


def _field_of(r: TopicResult, index: int, fig: str) -> str:
    """Where a figure is named in results.json, for error messages."""
    if fig in r.figures:
        return f"topics[{index}].figures[{r.figures.index(fig)}]"
    for kind, items in (("claims", r.claims), ("checks", r.checks)):
        for j, c in enumerate(items):
            if c.figure == fig:
                return f"topics[{index}].{kind}[{j}].figure"
    raise ValueError(f"figure {fig} is named nowhere in topic {r.topic}")


def _png_size(uri: str) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, so the page does not jump while images decode."""
    if not uri.startswith("data:image/png;base64,"):
        return None
    head = base64.b64decode(uri[22:22 + 32])  # the first 24 bytes: signature + IHDR
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])
