"""Streaming predict: lazy on a 1M-line input, memory flat in the file's length, and --resume exact."""
import io
import json
import tracemalloc

import pytest
from typer.testing import CliRunner

from kexue.gplinker.cli import app
from kexue.gplinker.extractor import Extractor
from kexue.gplinker.predict import PredictConfig, predict_file
from tests.gplinker._tiny import fresh_run


class LazyLines(io.RawIOBase):
    """A read-only binary file whose `n` lines are made only when read; `made` counts them."""

    def __init__(self, n: int):
        self.n, self.made, self.pending = n, 0, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and self.made < self.n:
            self.made += 1
            k = self.made
            self.pending = (json.dumps({"id": k, "text": f"第{k}句：张三在北京工作。"}, ensure_ascii=False) + "\n"
                            if k % 3 else f"第{k}行纯文本\n").encode()
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


class Stop(Exception):
    pass


def stop_after(lines: int):
    def progress(done: int, read: int) -> None:
        if done >= lines:
            raise Stop
    return progress


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    return Extractor.from_pretrained(fresh_run("relations", tmp_path_factory.mktemp("p") / "run", shift=-1.0))


def test_a_million_line_input_is_read_lazily(extractor, tmp_path):
    src = io.BufferedReader(LazyLines(1_000_000))
    with pytest.raises(Stop):
        predict_file(extractor, src, tmp_path / "out.jsonl", PredictConfig(batch_size=16, window=64),
                     progress=stop_after(64 + 48))
    # two windows written, the third being run: at most three windows and one read buffer were made
    assert src.raw.made < 3 * 64 + 8192 // 20
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    # two whole windows, and the third's lines complete in input order (flushed as they complete)
    assert 64 <= len(rows) <= 112 and [r.get("id") for r in rows[:3]] == [1, 2, None] and "spo_list" in rows[0]


def echo(texts):
    return [{"text": t, "entities": []} for t in texts]


def peak_bytes(n: int, out) -> int:
    tracemalloc.start()
    predict_file(echo, io.BufferedReader(LazyLines(n)), out, PredictConfig(batch_size=32, window=256))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_input(tmp_path):
    small, large = peak_bytes(1_000, tmp_path / "a.jsonl"), peak_bytes(10_000, tmp_path / "b.jsonl")
    assert sum(1 for _ in open(tmp_path / "b.jsonl", encoding="utf-8")) == 10_000
    # holding every line would take ≥ 10× the small run's peak; one window is the same for both
    assert large < 1.5 * small, (small, large)


def write_input(path, n: int) -> list[str]:
    lines = []
    for k in range(n):
        lines.append(json.dumps({"id": f"x{k}", "text": "李" * (1 + k % 17) + f"四{k}"}, ensure_ascii=False)
                     if k % 4 else f"第{k}行：" + "王" * (k % 11))
        if k % 10 == 9:
            lines.append("")  # blank lines are skipped, in both runs alike
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_resume_continues_without_duplicating_or_losing_lines(extractor, tmp_path):
    src = tmp_path / "in.jsonl"
    write_input(src, 150)
    cfg = PredictConfig(batch_size=8, window=32)
    predict_file(extractor, src, tmp_path / "whole.jsonl", cfg)
    whole = (tmp_path / "whole.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(whole) == 150
    part = tmp_path / "part.jsonl"
    with pytest.raises(Stop):
        predict_file(extractor, src, part, cfg, progress=stop_after(80))
    done = len(part.read_text(encoding="utf-8").splitlines())
    assert done >= 64  # two whole windows, and the third's lines that are complete in input order
    with open(part, "a", encoding="utf-8") as f:
        f.write('{"id": "x64", "text": "李李')  # the process died while writing
    summary = predict_file(extractor, src, part, cfg, resume=True)
    assert (summary.kept, summary.written) == (done, 150 - done)
    resumed = part.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["text"] for x in resumed] == [json.loads(x)["text"] for x in whole]
    assert resumed == whole
    # resuming a finished run writes nothing more
    assert predict_file(extractor, src, part, cfg, resume=True).written == 0
    assert part.read_text(encoding="utf-8").splitlines() == whole


def test_resume_refuses_an_output_of_another_input(extractor, tmp_path):
    src, other = tmp_path / "in.jsonl", tmp_path / "other.jsonl"
    write_input(src, 40)
    other.write_text("别的句子\n" * 40, encoding="utf-8")
    predict_file(extractor, other, tmp_path / "out.jsonl", PredictConfig(window=8), progress=None)
    with pytest.raises(ValueError, match="line 40 is not the prediction of .*in.jsonl:"):
        predict_file(extractor, src, tmp_path / "out.jsonl", resume=True)
    longer = tmp_path / "long.jsonl"
    write_input(longer, 60)
    predict_file(extractor, longer, tmp_path / "long_out.jsonl")
    with pytest.raises(ValueError, match="holds 60 lines but .* has only 40"):
        predict_file(extractor, src, tmp_path / "long_out.jsonl", resume=True)


def test_a_bad_line_names_its_place_after_the_windows_before_it_are_written(extractor, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("好\n" * 20 + '{"txt": "no text field"}\n' + "好\n" * 5, encoding="utf-8")
    with pytest.raises(ValueError, match=r"in.txt:21: a JSON line needs a string field 'text'"):
        predict_file(extractor, src, tmp_path / "out.jsonl", PredictConfig(window=8))
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 16


def test_the_command_resumes_and_reports_throughput(tmp_path):
    run = fresh_run("relations", tmp_path / "run", shift=-1.0)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = write_input(src, 30)
    runner = CliRunner()
    r = runner.invoke(app, ["relations", "predict", "--model", str(run), "--input", str(src), "--output", str(out)])
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "wrote 30 lines" in said and "lines/s" in said
    whole = out.read_text(encoding="utf-8")
    out.write_text("".join(whole.splitlines(keepends=True)[:11]) + whole.splitlines()[11][:9], encoding="utf-8")
    r = runner.invoke(app, ["relations", "predict", "--model", str(run), "--input", str(src), "--output", str(out),
                            "--resume"])
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "wrote 19 lines" in said and "after the 11 kept" in said
    assert out.read_text(encoding="utf-8") == whole
    assert len(whole.splitlines()) == len([x for x in lines if x])
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    r = runner.invoke(app, ["relations", "predict", "--model", str(run), "--input", str(bad), "--output",
                            str(tmp_path / "o2.jsonl")])
    said = " ".join(r.output.split())
    assert r.exit_code == 2 and "bad.txt:2: not UTF-8" in said and "Traceback" not in said


def test_an_interrupt_keeps_every_line_done_and_says_how_to_resume(extractor, tmp_path):
    """Ctrl-C inside a window of 1,024 lines kept 0 lines before: lines are now flushed as they complete."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 240)
    calls = [0]

    def extract(texts):
        calls[0] += 1
        if calls[0] == 10:  # the 10th batch of 16, inside the one window of 1,024 lines
            raise KeyboardInterrupt
        return extractor(texts)

    with pytest.raises(BaseException) as e:  # the old code let the KeyboardInterrupt through, having written 0 lines
        predict_file(extract, src, out, PredictConfig(batch_size=16, window=1024))
    kept = out.read_text(encoding="utf-8").splitlines()
    assert len(kept) > 0 and f"holds {len(kept)} complete lines" in str(e.value) and "--resume" in str(e.value)
    from kexue.gplinker.predict import PredictInterrupted
    assert isinstance(e.value, PredictInterrupted)
    predict_file(extractor, src, out, resume=True)
    whole = tmp_path / "whole.jsonl"
    predict_file(extractor, src, whole)
    assert out.read_text(encoding="utf-8") == whole.read_text(encoding="utf-8")


def test_an_existing_output_is_refused_without_resume_or_overwrite(tmp_path):
    run = fresh_run("relations", tmp_path / "run", shift=-1.0)
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    write_input(src, 5)
    out.write_text("earlier work\n", encoding="utf-8")
    runner = CliRunner()
    base = ["relations", "predict", "--model", str(run), "--input", str(src), "--output", str(out)]
    r = runner.invoke(app, base)
    assert r.exit_code == 2 and "--overwrite" in r.output and out.read_text(encoding="utf-8") == "earlier work\n"
    r = runner.invoke(app, [*base, "--overwrite"])
    assert r.exit_code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 5


def test_output_dash_is_stdout_and_a_json_array_is_refused(tmp_path):
    run = fresh_run("relations", tmp_path / "run", shift=-1.0)
    src = tmp_path / "in.txt"
    write_input(src, 4)
    runner = CliRunner()
    r = runner.invoke(app, ["relations", "predict", "--model", str(run), "--input", str(src), "--output", "-"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]  # every line of stdout is JSON: `| jq` reads them all
    assert len(rows) == 4 and not (tmp_path / "-").exists() and not __import__("os").path.exists("-")
    assert "wrote 4 lines to -" in " ".join(r.stderr.split())
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"text": "张三在北京。"}, {"text": "李四。"}], ensure_ascii=False), encoding="utf-8")
    r = runner.invoke(app, ["relations", "predict", "--model", str(run), "--input", str(array), "--output",
                            str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "array.json:1: a JSON array" in " ".join(r.output.split())
