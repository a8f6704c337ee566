"""The sample rows of `train_and_draw` side by side (kexue.parallel) are the in-process loop's, bit for
bit, in ROWS' order (one training, then one sampling chain per row, each from the same seed)."""
from kexue import parallel
from kexue.diffusion.draws import ROWS, train_and_draw
from kexue.diffusion.reproduce import preset


def test_rows_side_by_side_equal_the_loop(tmp_path):
    cfg = preset("smoke")
    args = (cfg.n_samples, cfg.draws, cfg.sample_steps, cfg.classifier, cfg.seed, "cpu")
    with parallel.using(1):
        here = train_and_draw(cfg.run, tmp_path / "one", *args)
    with parallel.using(2):
        side = train_and_draw(cfg.run, tmp_path / "two", *args)
    assert list(side.rows) == [label for label, _, _ in ROWS] and not side.diverged
    assert side.rows == here.rows and side.data == here.data  # bit for bit, each row in its place
    fd = [here.mean(label) for label, _, _ in ROWS]
    assert len(set(fd)) == len(ROWS)  # three different rows, not one repeated
    assert list(side.grids) == list(here.grids) == ["data.png", "samples.png"]  # drawn by the caller, after the numbers
    assert all(side.grids[k].equal(here.grids[k]) for k in here.grids)
