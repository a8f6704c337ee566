"""Post 9554 (kexue.fm/archives/9554): the deep LRU on long-range tasks, against attention and RNNs.

The layer itself is `kexue.nn.lru` (LRU, SLRU) with the scans of `kexue.nn.scan`. Here:
`model` (DeepModel, ModelConfig, param_groups), `mixers` (the paper's ablation steps and the baselines),
`tasks` (ListOps to the LRA specification, copy, adding, selective copy, recall, pixel MNIST/Fashion),
`train` (RunConfig, run: the Trainer with the paper's optimiser groups), `measure` and `reproduce`
(the post's claims), `cli` (`kexue lru train|evaluate|scan`).
"""
