"""The model-facing half of GPLinker: a model with its tokenizer and label space, batches in, results out.

kexue.fm/archives/8926, 8888, 8373. `Linker` encodes texts, builds the label tensors of a batch
(`collate`), computes the loss and decodes the model's outputs (`predict`) and scores them
(`evaluate`) through the task's entry in tasks.py. Loss: the sparse multilabel CE on every
GlobalPointer output, (i, j) flattened to i·n + j, padded with (0, 0), summed over heads and averaged
over the batch, summed over the outputs (duee_v1.py compiles the same loss on its three outputs);
`dense_loss` swaps in the dense form (post 8888: 1.5× slower). Training, saving and loading runs is
the other half (train.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from kexue.gplinker.caps import DecodeCount
from kexue.gplinker.encoders import Tokenizer, build_encoder
from kexue.gplinker.cells import Span
from kexue.gplinker.bigrams import BigramTable, count_bigrams
from kexue.gplinker.lexicon import attach_features, build_lexicon, require_char_tokenizer
from kexue.gplinker.model import EncoderConfig, HeadConfig
from kexue.gplinker.tasks import get_task
from kexue.nn.losses import global_pointer_crossentropy
from kexue.train import TrainConfig

TaskName = Literal["events", "relations", "ner"]


def labels_tensor(sets: list[list[set[Span]]]) -> Tensor:
    """[b][heads] sets of (i, j) → [b, heads, P, 2] long, padded with (0, 0) (so empty sets read (0, 0))."""
    width = max([1] + [len(s) for row in sets for s in row])
    out = torch.zeros(len(sets), len(sets[0]), width, 2, dtype=torch.long)
    for b, row in enumerate(sets):
        for k, s in enumerate(row):
            if s:
                out[b, k, :len(s)] = torch.tensor(sorted(s))
    return out


@dataclass
class GPLinkerConfig:
    task: TaskName = "events"
    max_len: int = 128  # the posts' maxlen, [CLS] and [SEP] included
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=300, batch_size=32, lr=1e-3, log_every=50))
    dense_loss: bool = False  # the dense multilabel CE instead of the sparse one (post 8888: 1.5× slower)
    keep_best: bool = True  # with dev data: evaluate every eval_every steps, keep the best weights (Su's Evaluator)
    eval_every: int = 0  # steps between those dev evaluations (replaces train.eval_every); 0 = once per epoch
    recipe: str = "quick"  # the named recipe these settings came from (recipes.py; a record only)
    patience: int = 0  # with dev data: stop after this many dev evaluations without a gain (0 = never)
    max_minutes: float = 0.0  # stop training after this many minutes (0 = no cap)
    sort_by_length: bool = False  # batches of similar lengths (train/length_batches.py): less padding on a CPU
    encoder_lr_scale: float = 1.0  # the encoder's learning rate over the heads' (1: one rate, as the posts)

    def __post_init__(self) -> None:
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"GPLinkerConfig.eval_every={self.eval_every!r}: must be an integer ≥ 0 "
                             "(0 = once per epoch)")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(f"GPLinkerConfig.patience={self.patience!r}: must be an integer ≥ 0 (0 = never stop early)")
        if not self.encoder_lr_scale > 0:
            raise ValueError(f"GPLinkerConfig.encoder_lr_scale={self.encoder_lr_scale!r}: must be > 0 (1 = one rate)")
        if not self.max_minutes >= 0:
            raise ValueError(f"GPLinkerConfig.max_minutes={self.max_minutes!r}: must be ≥ 0 (0 = no cap)")


class Linker:
    """A model with its tokenizer and label space: encode batches, compute the loss, decode, evaluate."""

    def __init__(self, cfg: GPLinkerConfig, labels: list, tokenizer: Tokenizer, model: torch.nn.Module | None = None,
                 encoder: torch.nn.Module | None = None, lexicon: dict[str, set[str]] | None = None,
                 bigrams: list[tuple[int, int]] | None = None, texts: list[str] | None = None):
        """`lexicon`: the words of cfg.encoder.lexicon (a run's lexicon.txt); None builds them from its source.
        `bigrams`: the token-id pairs of cfg.encoder.bigrams' table (a run's bigrams.txt); None counts them in
        `texts`, the training texts."""
        self.cfg, self.labels, self.tokenizer = cfg, labels, tokenizer
        self.task = get_task(cfg.task)
        self.lexicon = self.bigrams = None
        if model is None:
            enc = encoder if encoder is not None else build_encoder(cfg.encoder, tokenizer.vocab_size)
            self._attach_features(enc, lexicon, bigrams, texts)
            model = self.task.model(enc, len(labels), cfg.head)
        self.model = model
        self.weights = "fresh"  # which weights the model holds (set by fit and load_run)

    def _attach_features(self, enc: torch.nn.Module, lexicon: dict[str, set[str]] | None,
                         bigrams: list[tuple[int, int]] | None, texts: list[str] | None) -> None:
        """Lexicon features and bigram embeddings on the encoder's input, as cfg.encoder asks."""
        e = self.cfg.encoder
        if e.lexicon:
            self.lexicon = lexicon if lexicon is not None else build_lexicon(e.lexicon)
        if not isinstance(e.bigrams, int) or e.bigrams < 0:
            raise ValueError(f"encoder.bigrams={e.bigrams!r}: the size of the bigram embeddings, an integer ≥ 0 "
                             "(0 = none)")
        if e.bigrams:
            require_char_tokenizer(self.tokenizer, "encoder.bigrams")
            if bigrams is None and texts is None:
                raise ValueError("encoder.bigrams: no training texts to count the bigrams in, and no bigrams.txt")
            self.bigrams = BigramTable(count_bigrams(texts, self.tokenizer) if bigrams is None else bigrams,
                                       self.tokenizer.vocab_size)
        if e.lexicon or e.bigrams:
            attach_features(enc, self.tokenizer, self.lexicon, self.bigrams, e.bigrams)

    # -- batches -----------------------------------------------------------------------------------
    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        return self.tokenizer.encode_with_offsets(text, max_len=self.cfg.max_len)

    def beyond_max_len(self, samples: list) -> tuple[int, int]:
        """(labels, sentences): the labels that end past the characters max_len tokens cover, which `encode`
        cuts and training therefore never sees (the posts drop them silently), and the sentences they are in."""
        if self.task.label_ends is None:
            raise ValueError(f"task {self.task.name}: no label_ends to count the labels past max_len with")
        labels = sentences = 0
        width = self.cfg.max_len - 2  # [CLS] and [SEP] take the rest
        for s in samples:
            if len(s.text) <= width:  # every token covers a character at least: nothing is cut
                continue
            _, offsets = self.tokenizer.encode_with_offsets(s.text, add_special=False)
            if len(offsets) <= width:
                continue
            covered = offsets[width - 1][1]  # the characters [0, covered) are read; encode cuts the rest
            cut = sum(end > covered for end in self.task.label_ends(s))
            labels, sentences = labels + cut, sentences + (cut > 0)
        return labels, sentences

    def label_sets(self, sample: Any, offsets: list[tuple[int, int]]) -> list[list[set]]:
        """Per output, per head, the set of (i, j) cells."""
        return self.task.label_sets(sample, self.labels, offsets)

    def collate(self, samples: list) -> dict[str, Tensor]:
        encoded = [self.encode(s.text) for s in samples]
        n = max(len(ids) for ids, _ in encoded)
        ids = torch.zeros(len(samples), n, dtype=torch.long)
        for b, (row, _) in enumerate(encoded):
            ids[b, :len(row)] = torch.tensor(row)
        sets = [self.label_sets(s, offsets) for s, (_, offsets) in zip(samples, encoded)]
        out = {"ids": ids, "mask": ids != self.tokenizer.pad_id}
        for k in range(len(sets[0])):
            out[f"labels{k}"] = labels_tensor([row[k] for row in sets])
        return out

    def loss(self, model: torch.nn.Module, batch: dict[str, Tensor]) -> Tensor:
        outputs = model(batch["ids"], batch["mask"])
        total = 0.0
        for k, logits in enumerate(outputs):
            labels = batch[f"labels{k}"]
            if self.cfg.dense_loss:
                dense = torch.zeros_like(logits)
                b, h, p, _ = labels.shape
                bi = torch.arange(b)[:, None, None].expand(b, h, p)
                hi = torch.arange(h)[None, :, None].expand(b, h, p)
                dense[bi, hi, labels[..., 0], labels[..., 1]] = 1
                dense[:, :, 0, 0] = 0  # the (0, 0) padding is no label
                total = total + global_pointer_crossentropy(logits, dense, sparse=False)
            else:
                total = total + global_pointer_crossentropy(logits, labels)
        return total

    # -- decoding ----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, texts: list[str], batch_size: int = 32, trigger: bool = True, drop_subsets: bool = False) -> list:
        """events: list of events per text (`drop_subsets`: Su's leaderboard post-processing);
        relations: set of (s, p, o); ner: set of (start, end, type). `self.decoded` counts the sentences
        and those where a decoding cap cut the result (caps.py)."""
        self.model.eval()
        self.decoded = DecodeCount()
        device = next(self.model.parameters()).device
        out = []
        for at in range(0, len(texts), batch_size):
            chunk = texts[at:at + batch_size]
            encoded = [self.encode(t) for t in chunk]
            n = max(len(ids) for ids, _ in encoded)
            ids = torch.zeros(len(chunk), n, dtype=torch.long)
            for b, (row, _) in enumerate(encoded):
                ids[b, :len(row)] = torch.tensor(row)
            logits = self.model(ids.to(device), (ids != self.tokenizer.pad_id).to(device))
            outputs = [o.float().cpu().numpy() for o in logits]  # the decoders read NumPy arrays (cells.py)
            for b, (text, (_, offsets)) in enumerate(zip(chunk, encoded)):
                out.append(self.task.decode([o[b] for o in outputs], text, offsets, self.labels, trigger=trigger,
                                            drop_subsets=drop_subsets, count=self.decoded))
        return out

    def evaluate(self, samples: list, drop_subsets: bool = False) -> dict[str, float]:
        """The post's metrics on every gold item, each named, with their counts: events (event_level/*,
        argument_level/*, soft_argument/*; decoded with trigger=False as duee_v1.py's evaluate),
        relations (spo/*), ner (entity/*, and entity/TYPE/* per type); with decode/sentences and
        decode/capped, the sentences whose decoding a cap cut (caps.py: an untrained model's)."""
        pred = self.predict([s.text for s in samples], trigger=False, drop_subsets=drop_subsets)
        return {**self.task.score(pred, samples), **self.decoded.metrics()}
