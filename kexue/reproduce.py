"""`kexue reproduce`: run each topic's claims at a preset, collect the results, write the page.

Each topic package has `reproduce.py` with `reproduce(preset, out_dir, cfg=None) -> TopicResult` and
`preset(name)`, the preset's settings as a dataclass; it writes its figures into its own folder
`out_dir` (= OUT/<topic>/) and names them relative to that folder. Here we prefix those names with the
topic, so every path in `OUT/results.json` is relative to OUT. `--set TOPIC.key=value` changes one
setting of that topic's preset (kexue.config.override on `preset(name)`, passed on as `cfg`); every
setting is checked before the first topic runs.
"""
from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kexue import __version__, parallel
from kexue.config import override
from kexue.result import TopicResult, load_results, save_results

# the topics in the order of the page; each is a package kexue.<name> with reproduce.reproduce
TOPICS: tuple[str, ...] = ("attention", "roformer", "gplinker", "diffusion", "lru", "decoder_only", "mad")
# quick: ≤ 3 min a topic on 2 cores; standard: ≤ 10 min a topic, long enough for comparisons to come out
# either way; full: the post's settings (a GPU); smoke: toy sizes, a wiring test whose verdicts mean nothing
PRESETS: tuple[str, ...] = ("quick", "standard", "full", "smoke")
# the order in which side-by-side workers take the topics: the longest first (standard's CPU seconds,
# benchmarks/results/reproduce-times.json), so two cores finish together
LONGEST_FIRST: tuple[str, ...] = ("roformer", "lru", "mad", "decoder_only", "attention", "gplinker", "diffusion")


def run_topics(topics: list[str] | None, preset: str, out: Path,
               on_topic: Callable[[str, TopicResult], None] | None = None,
               sets: list[str] | None = None, jobs: int | None = None) -> list[TopicResult]:
    """Run the named topics (all when empty), each with its `sets` (`TOPIC.key=value`) applied to its
    preset, and write `out/results.json`; return their results in the page's order. `jobs` topics run at
    once, each in its own process (None: `default_jobs`). A topic may be named as the command line
    names it (decoder-only) or as its package (decoder_only). When `out` already holds a page of the same
    preset, its other topics are kept and the topics run now are added or replaced. results.json is
    saved after each topic finishes (`PageSoFar`: meta "complete": false and the topics "to_run" while
    any is left), so a run stopped by a topic's error keeps the topics that finished."""
    names = [_topic_name(t) for t in (topics or TOPICS)]
    unknown = [t for t in names if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topic(s) {unknown}; choose from {', '.join(TOPICS)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    configs = topic_presets(names, preset, sets)  # a bad setting stops here, before any topic runs
    kept_meta, kept = _earlier_page(out, preset, names)
    out.mkdir(parents=True, exist_ok=True)
    _headless_plots()
    jobs = default_jobs(preset, len(names)) if jobs is None else max(1, jobs)
    page = PageSoFar(out, preset, names, kept_meta, kept, sets, jobs)

    def finished(name: str, result: TopicResult) -> None:  # the page so far on disk, then the caller told
        page.add(result)
        if on_topic:
            on_topic(name, result)

    with parallel.using(page.workers):
        if jobs == 1:
            results = [_done(run_topic(name, preset, out, configs.get(name)), finished) for name in names]
        else:
            results = _side_by_side(names, preset, out, configs, jobs, finished)
    page.save()  # every topic in: complete, unless an earlier run into `out` left one this run did not redo
    return results


class PageSoFar:
    """`out/results.json` as the run goes: the topics kept from an earlier page and each topic of this run
    as it finishes, in the page's order, with this run's meta; saved whole after every topic. Its meta
    "to_run" lists the topics not finished, this run's and those an earlier stopped run left that this
    one does not redo; "complete" is true when there are none."""

    def __init__(self, out: Path, preset: str, names: list[str], kept_meta: dict[str, Any],
                 kept: list[TopicResult], sets: list[str] | None, jobs: int):
        self.out, self.preset, self.names, self.kept_meta, self.kept = out, preset, names, kept_meta, kept
        self.sets, self.jobs, self.workers = sets, jobs, topic_workers(preset, jobs)
        self.done: dict[str, TopicResult] = {}
        self.left_before = [t for t in kept_meta.get("to_run") or [] if t not in names]
        self.started, self.t0 = datetime.now(timezone.utc), time.perf_counter()

    def add(self, result: TopicResult) -> None:
        self.done[result.topic] = result
        self.save()

    def save(self) -> None:
        meta = run_meta(self.preset, self.started, time.perf_counter() - self.t0)
        to_run = [*self.left_before, *(n for n in self.names if n not in self.done)]
        meta.update(jobs=self.jobs, workers=self.workers, complete=not to_run)
        if to_run:  # not finished yet, or ever (the run stopped)
            meta["to_run"] = to_run
        if self.sets:
            meta["sets"] = list(self.sets)
        if self.kept:  # the page's other topics, from the run that made them
            meta["kept_from"] = {"command": self.kept_meta.get("command"), "started": self.kept_meta.get("started"),
                                 "topics": [r.topic for r in self.kept]}
            meta["seconds"] = round(meta["seconds"] + sum(r.seconds for r in self.kept), 1)
        order = {name: i for i, name in enumerate(TOPICS)}
        page = sorted([*self.kept, *self.done.values()], key=lambda r: order.get(r.topic, len(order)))
        save_results(page, self.out / "results.json", meta)


def default_jobs(preset: str, n_topics: int) -> int:
    """How many topics run at once. quick and standard run every topic on one torch thread, and time
    their timing claims on the thread's own CPU clock (kexue.timing), so the cores take topics side by
    side without changing a verdict; smoke (the tests' wiring runs) and full (all threads, or a GPU) run
    one topic at a time, as does a run under torchrun."""
    if preset not in ("quick", "standard") or "LOCAL_RANK" in os.environ:
        return 1
    return max(1, min(os.cpu_count() or 1, n_topics))


def topic_workers(preset: str, jobs: int) -> int:
    """The processes each topic's independent runs may use (kexue.parallel): at quick and standard the
    cores the side-by-side topics leave, ⌊cores / jobs⌋ (a topic alone on 2 cores trains two seeds at a
    time); smoke (the tests), full (all threads or a GPU) and torchrun: 1. $KEXUE_WORKERS, when set, is
    the number asked for (KEXUE_WORKERS=1: every run in turn, as on one core)."""
    if parallel.ENV in os.environ:
        return parallel.workers()
    if preset not in ("quick", "standard") or "LOCAL_RANK" in os.environ:
        return 1
    return parallel.workers_for(jobs)


def topic_module(name: str) -> str:
    """The module that holds topic `name`'s `reproduce` and `preset`."""
    return f"kexue.{name}.reproduce"


def run_topic(name: str, preset: str, out: Path, cfg: Any = None, module_name: str | None = None,
              keep_threads: bool = True) -> TopicResult:
    """One topic's `reproduce` (from `module_name`, by default `topic_module(name)`) into `out/name`, its
    paths made relative to `out` and its seconds set. `keep_threads`: torch's thread count is restored
    after it (a topic may set its own; the next one in this process gets the machine as it was)."""
    module = importlib.import_module(module_name or topic_module(name))
    t_topic = time.perf_counter()
    with _torch_threads_kept() if keep_threads else nullcontext():
        result: TopicResult = module.reproduce(preset, out / name, cfg=cfg)  # cfg None: the preset as named
    result = _relative_to_out(result, name)
    result.seconds = round(time.perf_counter() - t_topic, 2)
    return result


def _done(result: TopicResult, on_topic: Callable[[str, TopicResult], None] | None) -> TopicResult:
    if on_topic:
        on_topic(result.topic, result)
    return result


def _side_by_side(names: list[str], preset: str, out: Path, configs: dict[str, Any], jobs: int,
                  on_topic: Callable[[str, TopicResult], None] | None) -> list[TopicResult]:
    """The topics in `jobs` worker processes, the longest first, each topic in a fresh process (so no
    topic inherits another's threads or memory); each topic's own output (its progress bars) goes to
    `out/<topic>/reproduce.log`, and `on_topic` hears of each as it finishes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    order = sorted(names, key=lambda n: LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(LONGEST_FIRST))
    by_name: dict[str, TopicResult] = {}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=spawn, max_tasks_per_child=1) as pool:
        futures = {pool.submit(_logged_topic, n, topic_module(n), preset, out, configs.get(n)): n for n in order}
        try:
            for future in as_completed(futures):
                by_name[futures[future]] = _done(future.result(), on_topic)
        except Exception:  # a topic's error stops the run: none starts, the topics running finish and are kept
            # cancel() is False for a topic started (or done): those are the ones left to wait for
            running = [f for f in futures if not f.cancel() and futures[f] not in by_name]
            for future in as_completed(running):
                if future.exception() is None:
                    by_name[futures[future]] = _done(future.result(), on_topic)
            raise
        except BaseException:  # Ctrl-C: none starts
            for future in futures:
                future.cancel()
            raise
    return [by_name[n] for n in names]


def _logged_topic(name: str, module: str, preset: str, out: Path, cfg: Any) -> TopicResult:
    """run_topic in a worker process, its stdout and stderr (file descriptors 1 and 2, so torch's and
    tqdm's too) written to out/<topic>/reproduce.log."""
    (out / name).mkdir(parents=True, exist_ok=True)
    with open(out / name / "reproduce.log", "w") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        _headless_plots()
        return run_topic(name, preset, out, cfg, module, keep_threads=False)  # a fresh process per topic


def _topic_name(name: str) -> str:
    """decoder-only (the command line's spelling) and decoder_only (the package's) are one topic."""
    return name.strip().replace("-", "_")


def _earlier_page(out: Path, preset: str, names: list[str]) -> tuple[dict[str, Any], list[TopicResult]]:
    """(meta, results) of the topics already on `out`'s page that this run does not redo; a page of
    another preset is refused (one page, one preset)."""
    file = out / "results.json"
    if not file.is_file():
        return {}, []
    try:
        meta, earlier = load_results(file)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{file}: not a results.json of kexue reproduce ({e}); give another --out") from None
    if meta.get("preset") != preset:
        raise ValueError(f"{out} holds a --preset {meta.get('preset')} page; give another --out for --preset "
                         f"{preset} (kexue report merge combines pages of one preset)")
    return meta, [r for r in earlier if r.topic not in names]


def _headless_plots() -> None:
    """Figures are files: matplotlib's Agg backend, chosen here once and not at a topic's import."""
    import matplotlib

    matplotlib.use("Agg")


@contextmanager
def _torch_threads_kept() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def topic_presets(names: list[str], preset: str, sets: list[str] | None) -> dict[str, Any]:
    """{topic: its preset `preset` with its settings applied}, for the topics that `sets` names; each
    item is `TOPIC.key=value` (key may be dotted: gplinker.extract.steps=100). An unknown topic, a topic
    not in `names`, or a key or value the preset rejects is a ValueError naming the item."""
    by_topic: dict[str, list[str]] = {}
    for item in sets or []:
        key, eq, value = item.partition("=")
        topic, dot, rest = key.strip().partition(".")
        topic = _topic_name(topic)
        if not eq or not dot or not rest:
            raise ValueError(f"--set {item!r}: expected TOPIC.key=value, e.g. --set gplinker.duee_dir=data/DuEE1.0")
        if topic not in TOPICS:
            raise ValueError(f"--set {item}: unknown topic {topic!r}; choose from {', '.join(TOPICS)}")
        if topic not in names:
            raise ValueError(f"--set {item}: topic {topic} is not in this run ({', '.join(names)}); "
                             "add it or drop the setting")
        by_topic.setdefault(topic, []).append(f"{rest}={value}")
    configs = {}
    for topic, items in by_topic.items():
        module = importlib.import_module(topic_module(topic))
        try:
            configs[topic] = override(module.preset(preset), items)
        except ValueError as e:  # override names the key without its topic: put the topic back
            raise ValueError(str(e).replace("--set ", f"--set {topic}.", 1)) from None
    return configs


def run_meta(preset: str, started: datetime, seconds: float) -> dict[str, Any]:
    """The machine, versions and time of a run, shown at the bottom of the page."""
    import numpy
    import torch

    return {
        "preset": preset,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "command": " ".join(["kexue"] + sys.argv[1:]) if sys.argv and "kexue" in sys.argv[0] else "kexue reproduce",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "memory_gib": _memory_gib(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "system": platform.platform(),
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__, "kexue": __version__},
    }


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _relative_to_out(result: TopicResult, topic: str) -> TopicResult:
    def fix(p: str | None) -> str | None:
        return None if p is None else f"{topic}/{p}"

    claims = [replace(c, figure=fix(c.figure)) for c in result.claims]
    checks = [replace(c, figure=fix(c.figure)) for c in result.checks]
    return replace(result, claims=claims, checks=checks, figures=[fix(f) for f in result.figures])
