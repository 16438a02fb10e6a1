"""train/plots.py: the learning curves PNG."""
import pytest

pytest.importorskip("matplotlib")

from chainrule.train.plots import plot_history  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_curves_with_and_without_validation(tmp_path):
    hist = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5 + e / 20, "val_loss": 1.2 / e,
             "val_acc": 0.5 + e / 25} for e in range(1, 6)]
    plot_history(hist, tmp_path / "a.png", title="demo")
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG
    loss_only = [{"epoch": e, "train_loss": 1 / e, "val_loss": None} for e in range(1, 3)]
    plot_history(loss_only, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files
