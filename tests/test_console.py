"""Results printed when stdout is not a terminal keep every cell whole (issue 24 §5 "Redirected output"):
rich lays a table out to 80 columns there and cut `5.69e+08` to `5.69e…`."""
import io

from rich.table import Table
from typer.testing import CliRunner

from kexue.cli import app
from kexue.console import ResultsConsole


def test_a_piped_table_keeps_its_numbers_whole():
    table = Table(title="wide")
    for i in range(12):
        table.add_column(f"column {i}")
    table.add_row(*[f"{5.6912345e8 * (i + 1):.6e}" for i in range(12)])
    out = io.StringIO()
    ResultsConsole(file=out).print(table)  # a file: not a terminal
    assert "…" not in out.getvalue()
    assert "5.691234e+08" in out.getvalue() and "6.829481e+09" in out.getvalue()
    narrow = io.StringIO()
    console = ResultsConsole(file=narrow)
    console.width = 80  # a width set on purpose still wins
    console.print(table)
    assert "…" in narrow.getvalue()


def test_the_rank_table_of_the_real_command_is_whole_when_piped():
    result = CliRunner().invoke(app, ["decoder-only", "rank", "--n", "16", "--d", "4", "--temperature", "0.5",
                                      "--kinds", "bidirectional,causal"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    # one line a row: kind, n, d, τ and the ranks with their spread and count
    assert len(rows) == 2 and all("(n=3)" in row for row in rows), result.stdout
