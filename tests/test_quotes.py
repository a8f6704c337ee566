"""Every claim on the page quotes the post it tests, in the post's own words.

Each topic's `claims.py` holds `QUOTES = {key: (post, sentence)}`, and `reproduce` passes one of them to
every claim. Here each sentence is looked up in the post's text (`shared/reference/posts/NNNN.md`,
beside the repository where the project's reference material is), so a quote cannot be paraphrased,
misattributed or made up: the check is blind to whitespace and Markdown emphasis only.
"""
import importlib
import re
from pathlib import Path

import pytest

from kexue.reproduce import TOPICS

POSTS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "posts"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _plain(text: str) -> str:
    """The text with whitespace, Markdown emphasis, escapes and TeX dollars removed."""
    return re.sub(r"[\s*\\$`]", "", text)


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_quotes_its_posts(topic):
    quotes = importlib.import_module(f"kexue.{topic}.claims").QUOTES
    assert quotes, f"kexue/{topic}/claims.py: QUOTES is empty"
    for key, (post, sentence) in quotes.items():
        assert isinstance(post, int) and post > 0, f"{topic} {key}: {post!r} is not a kexue.fm archive number"
        assert CJK.search(sentence), f"{topic} {key}: the quote is not the post's (Chinese) words: {sentence!r}"


@pytest.mark.skipif(not POSTS.is_dir(), reason=f"the posts' text is not at {POSTS}")
@pytest.mark.parametrize("topic", TOPICS)
def test_quotes_are_the_posts_own_words(topic):
    quotes = importlib.import_module(f"kexue.{topic}.claims").QUOTES
    for key, (post, sentence) in quotes.items():
        path = POSTS / f"{post}.md"
        assert path.is_file(), f"{topic} {key}: no post {post} in {POSTS}"
        assert _plain(sentence) in _plain(path.read_text(encoding="utf-8")), \
            f"{topic} {key}: not found verbatim in post {post}: {sentence!r}"


def test_the_lookup_rejects_a_paraphrase():
    """The control: a sentence the post does not contain (9529 says softmax raises the rank) fails."""
    text = (POSTS / "9529.md").read_text(encoding="utf-8") if POSTS.is_dir() else "会有一定的升秩作用"
    assert _plain("会有一定的升秩作用") in _plain(text)
    assert _plain("会有一定的降秩作用") not in _plain(text)
