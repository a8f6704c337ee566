"""kexue/data/masking.py: whole-word masking (post 8998), the one function roformer and decoder_only use."""
import torch

from kexue.data.masking import IGNORE, MaskingConfig, whole_word_mask


def test_rates_whole_words_and_the_random_pool():
    g = torch.Generator().manual_seed(0)
    words = [[10 + 3 * w, 11 + 3 * w, 12 + 3 * w] for w in range(20)]  # 20 words of 3 tokens
    special = (0, 1, 2, 3, 4)
    counts, seen_random = [0, 0, 0, 0], set()
    for _ in range(2000):
        ids, labels, choices = whole_word_mask(words, mask_id=4, vocab_size=40, special=special, generator=g)
        for word, choice, k in zip(words, choices, range(0, 60, 3)):
            counts[choice] += 1
            # a word is all in or all out; its labels are its tokens exactly when selected
            assert labels[k:k + 3] == (word if choice else [IGNORE] * 3)
            if choice == 1:
                assert ids[k:k + 3] == [4] * 3
            elif choice in (0, 2):
                assert ids[k:k + 3] == word
            else:
                seen_random.update(ids[k:k + 3])
    total = sum(counts)
    selected = total - counts[0]
    assert abs(selected / total - 0.15) < 0.01  # (the fallback adds < 0.85^20 = 4 %% of a word per sequence)
    assert abs(counts[1] / selected - 0.8) < 0.03 and abs(counts[2] / selected - 0.1) < 0.02
    assert seen_random == set(range(5, 40))  # uniform over the non-special ids, every one reached


def test_the_fallback_picks_a_word_uniformly_and_masks_it_as_any_selected_word():
    g = torch.Generator().manual_seed(1)
    cfg = MaskingConfig(word_rate=0.0)  # nothing selected: the fallback every time
    first, choice_counts = [0] * 4, [0, 0, 0, 0]
    for _ in range(4000):
        _, _, choices = whole_word_mask([[5], [6], [7], [8]], mask_id=1, vocab_size=9, cfg=cfg, generator=g)
        assert sum(c > 0 for c in choices) == 1
        w = next(k for k, c in enumerate(choices) if c)
        first[w] += 1
        choice_counts[choices[w]] += 1
    assert all(abs(c / 4000 - 0.25) < 0.03 for c in first)  # not always the first word
    assert abs(choice_counts[1] / 4000 - 0.8) < 0.03 and choice_counts[3] > 0  # 80/10/10 as any selected word


def test_both_topics_mask_with_this_function():
    from kexue.decoder_only.mlm import MLMTaskConfig
    from kexue.decoder_only.mlm import whole_word_mask as decoder_only_mask
    from kexue.roformer.mlm import whole_word_mask as roformer_mask
    words = [[3 + w, 4 + w] for w in range(0, 30, 2)]
    want = whole_word_mask(words, mask_id=1, vocab_size=50, special=(0, 1, 2), generator=torch.Generator().manual_seed(5))
    assert decoder_only_mask(words, 50, MLMTaskConfig(), torch.Generator().manual_seed(5)) == want[:2]
    assert roformer_mask is whole_word_mask
