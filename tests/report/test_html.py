"""kexue/report/html.py and load.py: the page's content, its escaping, and one-line errors."""
from __future__ import annotations

import base64
import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from kexue.report import ReportError, render_report
from kexue.report.cli import app

from .sample import META, TRICKY, make_out, sample_topics

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Page(HTMLParser):
    """Collects img sources and checks that every non-void tag is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.imgs: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"] or "")
        if tag == "a":
            self.links.append(a["href"] or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    assert p.stack == [], f"unclosed tags {p.stack}"
    return p


def test_render_report_writes_index_html(sample_out: Path) -> None:
    path = render_report(sample_out)
    assert path == sample_out / "index.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page and 'name="viewport"' in page
    assert "科学空间|Scientific Spaces" in page


def test_titles_links_and_order(sample_out: Path) -> None:
    page = render_report(sample_out).read_text(encoding="utf-8")
    attention, lru = sample_topics()
    for t in (attention, lru):
        assert escape(t.title) in page
        assert f'href="https://kexue.fm/archives/{t.post}"' in page
    for related in attention.related_posts:
        assert f'href="https://kexue.fm/archives/{related}"' in page
    # newest post first, although results.json lists the 2020 post before the 2023 one
    assert page.index('id="post-lru"') < page.index('id="post-attention"')
    # every in-page link points at an element that exists
    ids = set(re.findall(r'id="([^"]+)"', page))
    for href in parse(page).links:
        if href.startswith("#"):
            assert href[1:] in ids


def test_verdict_counts_and_badges(sample_out: Path) -> None:
    page = render_report(sample_out).read_text(encoding="utf-8")
    summary = page[page.index('id="summary"'):page.index("</section>")]
    assert "<b>5</b> claims" in summary
    counts = {cls: n for n, cls in re.findall(r'<b>(\d+)</b> <span class="badge ([a-z-]+)">', summary)}
    assert counts == {"held": "2", "not-held": "1", "inconclusive": "1", "not-checkable": "1"}
    # one badge per claim and check in the posts, plus the four of the summary (the check is held)
    for cls, n in (("held", 3), ("not-held", 1), ("inconclusive", 1), ("not-checkable", 1)):
        assert page.count(f'class="badge {cls}"') == n + 1
    assert "12 min 34 s" in summary  # meta.seconds = 754.3
    assert re.search(r'href="#post-attention">.*?</a></td><td>quick</td><td class="num">1 / 3', summary)


def test_text_is_escaped(sample_out: Path) -> None:
    page = render_report(sample_out).read_text(encoding="utf-8")
    assert TRICKY not in page
    assert escape(TRICKY) in page  # in the claim and in the metrics table
    assert page.count(escape(TRICKY)) == 2
    assert "measured &amp; compared: a &lt; b &gt; c" in page
    assert "<script" not in page  # the page runs no script at all
    parse(page)


def test_figures_are_embedded_and_captioned(sample_out: Path) -> None:
    page = render_report(sample_out).read_text(encoding="utf-8")
    srcs = parse(page).imgs
    assert len(srcs) == 3  # attention: cost, quality; lru: accuracy (named only by its claim)
    order = ["lru/accuracy.png", "attention/cost.png", "attention/quality.png"]
    for src, name in zip(srcs, order):
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == (sample_out / name).read_bytes()
    assert "src=\"http" not in page and "url(" not in page  # nothing fetched from the network
    assert "图 1 · <code>attention/cost.png</code> — 论断 1: Linear attention" in page
    assert 'href="#post-attention-fig1">→ 图 1</a>' in page
    assert re.search(r'<img src="data:image/png;base64,[^"]+" width="320" height="200"', page)


def test_metrics_and_colophon(sample_out: Path) -> None:
    page = render_report(sample_out).read_text(encoding="utf-8")
    for row in ("<td>flops_ratio</td><td>7.912</td>", "<td>n</td><td>4096</td>",
                "<td>loss.softmax</td><td>2.5</td>", "<td>ok</td><td>true</td>",
                "<td>missing</td><td>—</td>", "<td>curve</td><td>[1, 2, 3]</td>",
                "<td>versions.torch</td><td>2.13.0</td>", "<td>machine.cores</td><td>2</td>",
                "<td>machine.memory_gib</td><td>7.6</td>",
                f"<td>command</td><td>{META['command']}</td>"):
        assert row in page, row


def test_empty_run_renders(tmp_path: Path) -> None:
    page = render_report(make_out(tmp_path, topics=[])).read_text(encoding="utf-8")
    assert "<b>0</b> claims" in page and "lists no topics" in page
    parse(page)


def _edit(fn: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(out: Path) -> None:
        path = out / "results.json"
        payload = json.loads(path.read_text(encoding="utf-8"))
        fn(payload)
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return apply


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def fn(payload: dict[str, Any]) -> None:
        d = payload
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return fn


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing figure": (lambda out: (out / "attention/quality.png").unlink(),
                       r"topics\[0\]\.figures\[1\]: figure file .*attention/quality\.png does not exist"),
    "missing claim figure": (lambda out: (out / "lru/accuracy.png").unlink(),
                             r"topics\[1\]\.claims\[0\]\.figure: figure file .*lru/accuracy\.png does not exist"),
    "not json": (lambda out: (out / "results.json").write_text('{"meta": {}, "topics": [}'),
                 r"results\.json:1:\d+: not valid JSON"),
    "no results": (lambda out: (out / "results.json").unlink(), r"results\.json: no such file"),
    "top level": (lambda out: (out / "results.json").write_text("[]"), r"top level must be an object"),
    "no topics": (_edit(lambda p: p.pop("topics")), r"results\.json: missing field 'topics'"),
    "no title": (_edit(lambda p: p["topics"][1].pop("title")), r"topics\[1\]: missing field 'title'"),
    "bad verdict": (_edit(_set("topics", 0, "claims", 2, "verdict", value="maybe")),
                    r"topics\[0\]\.claims\[2\]\.verdict: 'maybe' is not one of held, not held"),
    "post as text": (_edit(_set("topics", 0, "post", value="8610")),
                     r"topics\[0\]\.post must be an integer, not a string"),
    "bad date": (_edit(_set("topics", 1, "date", value="2023/03/28")),
                 r"topics\[1\]\.date: '2023/03/28' is not a date YYYY-MM-DD"),
    "unknown field": (_edit(_set("topics", 0, "claims", 0, "verdit", value="held")),
                      r"topics\[0\]\.claims\[0\]: unknown field 'verdit'"),
    "figure outside": (_edit(_set("topics", 0, "figures", 0, value="../secret.png")),
                       r"topics\[0\]\.figures\[0\]: figure '\.\./secret\.png' must be a path inside"),
    "not an image": (_edit(_set("topics", 0, "figures", 0, value="results.json")),
                     r"topics\[0\]\.figures\[0\]: figure 'results\.json' is not an image"),
    "machine": (_edit(_set("meta", "machine", value="laptop")), r"meta\.machine must be an object"),
    "seconds": (_edit(_set("topics", 0, "seconds", value=True)),
                r"topics\[0\]\.seconds must be an integer or a number, not a boolean"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_bad_input_is_one_line_naming_file_and_field(sample_out: Path, case: str) -> None:
    breaks, pattern = BROKEN[case]
    breaks(sample_out)
    with pytest.raises(ReportError) as e:
        render_report(sample_out)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(str(sample_out / "results.json"))
    assert re.search(pattern, message), message
    assert not (sample_out / "index.html").exists()


def test_cli_render(sample_out: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(sample_out)])
    assert result.exit_code == 0, result.output
    assert (sample_out / "index.html").is_file()
    (sample_out / "lru/accuracy.png").unlink()
    result = CliRunner().invoke(app, ["render", str(sample_out)])
    assert result.exit_code == 2


def test_rule_evidence_and_smoke_banner(tmp_path: Path) -> None:
    from kexue.result import TopicResult, save_results
    from kexue.verdicts import better

    c = better([0.5, 0.52, 0.51], [0.5, 0.49, 0.52], names=("GP", "EGP")).to_claim(
        "GP beats EGP", "F1 0.51 vs 0.50", evidence={"GP": [0.5, 0.52, 0.51], "EGP": [0.5, 0.49, 0.52]})
    r = TopicResult("gplinker", 8926, "t", "2022-01-30", "smoke", claims=[c])
    save_results([r], tmp_path / "results.json", {"preset": "smoke"})
    page = render_report(tmp_path).read_text(encoding="utf-8")
    assert 'class="badge inconclusive"' in page and "rule 判据: GP better than EGP" in page
    assert "GP: 0.51 ± 0.01 (n=3)" in page and "wiring test" in page


def test_quotes_needs_and_checks_apart(sample_out: Path) -> None:
    """The post's own sentence under its claim, what would decide an open claim, and the identities
    in their own table, left out of the claims' tally."""
    html = render_report(sample_out).read_text(encoding="utf-8")
    assert "“LRU在LRA上的效果”" in html and 'href="https://kexue.fm/archives/9554">9554</a>' in html
    assert "what would decide it 如何判定: three seeds a side" in html
    assert "Identities verified · 恒等式" in html and "negative control 反例: uniform in r: not held" in html
    assert "<b>5</b> claims" in html  # 3 + 2 claims; the check is not one of them
    assert "<b>1 / 1</b> identities verified" in html
