"""People's Daily as character-LM data: one tokenizer, a training stretch, a held-out stretch, windows.

The attention study (kexue.fm/archives/8610) and the LRU's language-model runs (9554) train small
character LMs on the same corpus; both read it here. The text is the 1998 People's Daily, paragraph by
paragraph, joined; the first `train_chars` characters train (and build the `CharTokenizer`, its
`vocab_size` most frequent characters, the rest [UNK]); the next `eval_chars` are held out.
"""
from __future__ import annotations

import torch

from kexue.data.peoples_daily import peoples_daily_text
from kexue.data.tokenizers import CharTokenizer


def char_corpus(train_chars: int, eval_chars: int, vocab_size: int) -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """(tokenizer, training ids [train_chars], held-out ids [eval_chars]): the corpus's first train_chars
    characters, then the eval_chars that follow them."""
    text = "".join(peoples_daily_text(unit="paragraph"))
    if len(text) < train_chars + eval_chars:
        raise ValueError(f"train_chars + eval_chars = {train_chars + eval_chars} exceeds the corpus "
                         f"({len(text)} characters)")
    tok = CharTokenizer.build([text[:train_chars]], max_size=vocab_size)
    # one token per character, so the ids of a stretch are the stretch of the ids
    ids = torch.tensor(tok.encode(text[: train_chars + eval_chars], add_special=False))
    return tok, ids[:train_chars], ids[train_chars:]


def windows(ids: torch.Tensor, length: int, step: int | None = None) -> torch.Tensor:
    """[N, length] windows of a 1-D id sequence, starting every `step` ids (default: length, no overlap).

    windows(ids, n + 1, n) gives an LM n inputs and n targets per window with no transition lost
    (window i is ids[i·n : i·n + n + 1]); windows(ids, n) cuts the sequence into rows of n."""
    step = step or length
    if ids.numel() < length:
        raise ValueError(f"windows: {ids.numel()} ids are fewer than one window of {length}")
    n = (ids.numel() - length) // step + 1
    return ids.unfold(0, length, step)[:n].contiguous()
