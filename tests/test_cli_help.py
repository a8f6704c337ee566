"""`kexue --help` says where each kind of user starts, and shell completion can be installed."""
from typer.testing import CliRunner

from kexue.cli import app


def test_help_says_where_to_start():
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0
    text = r.output
    for start in ("kexue gplinker ner train", "from kexue.nn import", "kexue reproduce --preset quick"):
        assert start in text, start
    assert "--install-completion" in text
