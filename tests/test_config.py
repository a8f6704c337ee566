"""`--set key=value`: typed parsing, nested keys, one-line errors, the JSON round trip."""
from dataclasses import dataclass, field
from typing import Literal

import pytest

from kexue.config import from_dict, override, to_dict


@dataclass
class Inner:
    lr: float = 1e-3
    steps: int = 10
    kind: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    clip: float | None = 1.0
    flag: bool = False


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    name: str = "x"


def test_values_are_parsed_to_the_declared_types():
    cfg = override(Outer(), ["inner.lr=3e-4", "inner.steps=2e3", "inner.kind=b", "inner.sizes=4,5,6",
                             "inner.clip=none", "inner.flag=true", "name=y"])
    assert cfg == Outer(Inner(lr=3e-4, steps=2000, kind="b", sizes=(4, 5, 6), clip=None, flag=True), "y")
    assert Outer() == Outer(Inner(), "x")  # the original is untouched


def test_round_trip_through_json():
    cfg = override(Outer(), ["inner.sizes=7", "inner.clip=0.5"])
    assert from_dict(Outer, to_dict(cfg)) == cfg


@pytest.mark.parametrize("item, words", [
    ("inner.nope=1", "unknown setting 'nope'"),
    ("inner.steps=abc", "expected an int"),
    ("inner.kind=c", "must be one of a, b"),
    ("inner.flag=maybe", "expected true or false"),
    ("name", "expected key=value"),
    ("name.sub=1", "has no settings below it"),
])
def test_bad_settings_are_one_line_errors(item, words):
    with pytest.raises(ValueError, match=words) as e:
        override(Outer(), [item])
    assert "\n" not in str(e.value)


def test_unknown_field_in_saved_config_is_an_error():
    with pytest.raises(ValueError, match="unknown field"):
        from_dict(Inner, {"lr": 1.0, "momentum": 0.9})


def test_the_example_of_a_bad_set_is_a_key_the_settings_accept():
    """`--set lr` said "e.g. --set lr=3e-4", which no kexue command accepts (it is train.lr)."""
    import pytest

    from kexue.config import example_setting, override
    from kexue.lru.train import RunConfig

    cfg = RunConfig()
    with pytest.raises(ValueError, match="expected key=value") as e:
        override(cfg, ["lr"])
    example = str(e.value).split("--set ")[-1]
    assert example == example_setting(cfg) and example.startswith("train.steps=")
    override(cfg, [example])  # the example itself is accepted


def test_comma_list_reads_an_options_values_and_names_the_option_when_one_is_bad():
    from kexue.config import comma_list

    assert comma_list(" 64, 256,,1024 ", int, "--n", "64,256") == (64, 256, 1024)
    assert comma_list("1,0.85", float, "--lam", "1,0.8") == (1.0, 0.85)
    assert comma_list("", int, "--n", "64") == ()
    with pytest.raises(ValueError, match=r"^--lengths '12,x': expected comma-separated integers, e\.g\. 128,512$"):
        comma_list("12,x", int, "--lengths", "128,512")
    with pytest.raises(ValueError, match=r"^--n '64,0': expected comma-separated integers, each at least 1$"):
        comma_list("64,0", int, "--n", "64", minimum=1)
    with pytest.raises(ValueError, match="each at least 1"):
        comma_list("", int, "--n", "64", minimum=1)
