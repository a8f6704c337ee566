"""Why LLMs are decoder-only (kexue.fm/archives/9529): the attention-rank argument measured, and
decoder-only vs prefix-LM (UniLM) vs encoder-decoder at equal size on real Chinese text.

    from kexue.decoder_only.rank import attention_matrix, effective_rank, numerical_rank, rank_table
"""
