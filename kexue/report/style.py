"""The page's stylesheet, inlined into `index.html` (no web fonts, no network).

A quiet blog look after kexue.fm's front page: one centred column, serif post titles, system fonts
with a Chinese fallback chain, tables that scroll sideways on a phone instead of overflowing.
"""

CSS = """
:root {
  --ink: #222; --muted: #6a6a6a; --rule: #e3e1da; --paper: #fff; --ground: #f4f3ef;
  --link: #1f5f99; --held: #1e7b34; --not-held: #b3261e; --uncheckable: #6b6f76; --inconclusive: #9a6700;
  --sans: -apple-system, BlinkMacSystemFont, "Segoe UI", "Helvetica Neue", Arial, "PingFang SC",
    "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC",
    "WenQuanYi Micro Hei", sans-serif;
  --serif: Georgia, "Times New Roman", "Songti SC", "Noto Serif CJK SC", "Source Han Serif SC",
    SimSun, serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
blockquote.quote { margin: .35rem 0 0; padding: .1rem .6rem; border-left: 3px solid var(--rule);
  color: var(--muted); font: .88rem/1.6 var(--serif); }
p.needs { margin: .3rem 0 0; color: var(--inconclusive); font-size: .85rem; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--ground); color: var(--ink); font: 16px/1.7 var(--sans); }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
.site { max-width: 60rem; margin: 0 auto; padding: 0 1rem; }
header.masthead { padding: 2.2rem 0 1.2rem; border-bottom: 3px double var(--rule); }
.masthead h1 { margin: 0; font: 700 2rem/1.2 var(--serif); letter-spacing: .02em; }
.masthead h1 a { color: var(--ink); }
.masthead p { margin: .4rem 0 0; color: var(--muted); }
section.summary, article.post, footer.colophon {
  background: var(--paper); border: 1px solid var(--rule); border-radius: 4px;
  margin: 1.2rem 0; padding: 1.2rem 1.4rem;
}
.summary h2, .colophon h2 { margin: 0 0 .6rem; font-size: 1.1rem; }
.counts { display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; margin: 0 0 .8rem; padding: 0; list-style: none; }
.counts li { white-space: nowrap; }
.counts b { font-size: 1.3rem; margin-right: .2rem; }
article.post h2 { margin: 0; font: 700 1.45rem/1.35 var(--serif); }
.byline { margin: .3rem 0 .9rem; color: var(--muted); font-size: .9rem; }
.byline span { white-space: nowrap; }
.byline span + span::before { content: "·"; margin: 0 .4rem 0 0; color: #bbb; }
article.post h3 { margin: 1.3rem 0 .5rem; font-size: 1rem; color: var(--muted); font-weight: 600; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { width: 100%; border-collapse: collapse; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid var(--rule); }
th { font-weight: 600; color: var(--muted); font-size: .82rem; text-transform: uppercase; letter-spacing: .03em; }
td.date { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.measured { white-space: pre-line; }
td.verdict { white-space: nowrap; }
table.kv td:first-child { font-family: var(--mono); font-size: .85rem; color: var(--muted); width: 40%; overflow-wrap: anywhere; }
table.kv td:last-child { font-family: var(--mono); font-size: .85rem; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; color: #fff;
  font-size: .8rem; font-weight: 600; line-height: 1.6; white-space: nowrap; }
.badge.held { background: var(--held); }
.badge.not-held { background: var(--not-held); }
.badge.not-checkable { background: var(--uncheckable); }
.badge.inconclusive { background: var(--inconclusive); }
.evidence { margin: .3rem 0 0; padding-left: 1.1rem; font-size: .9em; }
.rule { margin: .3rem 0 0; font-size: .85em; color: var(--uncheckable); }
.smoke { border: 2px solid var(--not-held); padding: .5rem .8rem; }
.figref { font-size: .85rem; white-space: nowrap; }
figure { margin: 1rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); background: #fff; }
figcaption { margin-top: .3rem; color: var(--muted); font-size: .88rem; text-align: left; }
figcaption code, .colophon code { font-family: var(--mono); font-size: .85em; }
.empty { color: var(--muted); font-style: italic; }
footer.colophon { font-size: .88rem; color: var(--muted); margin-bottom: 2rem; }
footer.colophon table.kv td { padding: .25rem .6rem; }
@media (max-width: 40rem) {
  body { font-size: 15px; }
  .site { padding: 0 .5rem; }
  section.summary, article.post, footer.colophon { padding: 1rem .8rem; }
  .masthead h1 { font-size: 1.5rem; }
  article.post h2 { font-size: 1.25rem; }
  th, td { padding: .4rem .4rem; }
  /* claims become cards: number and claim, then what was measured, then the verdict */
  table.claims thead { display: none; }
  table.claims tr { display: block; padding: .6rem 0; border-bottom: 1px solid var(--rule); }
  table.claims td { display: block; border: 0; padding: .1rem 0; }
  table.claims td.num { float: left; width: 1.6rem; text-align: left; font-weight: 600; }
  table.claims td:not(.num) { margin-left: 1.6rem; }
  table.claims td.measured { color: var(--muted); }
  table.kv td:first-child { width: 45%; }
}
"""
