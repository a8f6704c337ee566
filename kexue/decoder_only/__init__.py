"""Why LLMs are decoder-only (kexue.fm/archives/9529): the attention-rank argument measured, and
decoder-only vs prefix-LM (UniLM) vs encoder-decoder at equal size on real Chinese text, and
mixed-direction vs bidirectional MLM.

    from kexue.decoder_only import RankConfig, rank_table, ModelConfig, RunConfig, TaskConfig, compare
    rows = rank_table(RankConfig(ns=(256,), ds=(16,)))            # ranks of each attention kind
    results = compare(RunConfig(), ("decoder", "prefix", "encdec@params"), seeds=3, out_dir="runs/do")
"""
from typing import TYPE_CHECKING

from kexue.lazy import exports

if TYPE_CHECKING:  # the names, for type checkers and editors
    from kexue.decoder_only.mlm import DIRECTIONS, MLMModel, MLMRunConfig, MLMTaskConfig, build_mlm_task, run_mlm
    from kexue.decoder_only.model import (ARCHS, ModelConfig, Seq2SeqModel, attention_qk, match_width,
                                          parameter_count, training_flops)
    from kexue.decoder_only.rank import (KINDS, RankConfig, attention_matrix, effective_rank, mixed_direction,
                                         numerical_rank, rank_table)
    from kexue.decoder_only.tasks import TASKS, TaskConfig, build_task, unigram_loss
    from kexue.decoder_only.train import RunConfig, compare, evaluate_generation, evaluate_loss, run

__getattr__, __dir__ = exports(__name__, {
    "DIRECTIONS": "mlm",
    "MLMModel": "mlm",
    "MLMRunConfig": "mlm",
    "MLMTaskConfig": "mlm",
    "build_mlm_task": "mlm",
    "run_mlm": "mlm",
    "ARCHS": "model",
    "ModelConfig": "model",
    "Seq2SeqModel": "model",
    "attention_qk": "model",
    "match_width": "model",
    "parameter_count": "model",
    "training_flops": "model",
    "KINDS": "rank",
    "RankConfig": "rank",
    "attention_matrix": "rank",
    "effective_rank": "rank",
    "mixed_direction": "rank",
    "numerical_rank": "rank",
    "rank_table": "rank",
    "TASKS": "tasks",
    "TaskConfig": "tasks",
    "build_task": "tasks",
    "unigram_loss": "tasks",
    "RunConfig": "train",
    "compare": "train",
    "evaluate_generation": "train",
    "evaluate_loss": "train",
    "run": "train",
})

__all__ = ["ARCHS", "DIRECTIONS", "KINDS", "MLMModel", "MLMRunConfig", "MLMTaskConfig", "ModelConfig", "RankConfig",
           "RunConfig", "Seq2SeqModel", "TASKS", "TaskConfig", "attention_matrix", "attention_qk", "build_mlm_task",
           "build_task", "compare", "effective_rank", "evaluate_generation", "evaluate_loss",
           "match_width", "mixed_direction", "numerical_rank", "parameter_count", "rank_table", "run", "run_mlm",
           "training_flops", "unigram_loss"]
