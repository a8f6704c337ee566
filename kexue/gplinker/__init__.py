"""GPLinker (kexue.fm/archives/8926, 8888) on GlobalPointer (8373, 8877): NER, events, relations."""
from importlib.resources import files


def fixture(name: str):
    """Path of a bundled DuEE/DuIE-format fixture: duee_sample.json, duee_event_schema.json, duie_*.json."""
    path = files("kexue.gplinker") / "fixtures" / name
    if not path.is_file():
        raise FileNotFoundError(f"no bundled fixture {name!r} in kexue/gplinker/fixtures")
    return path
