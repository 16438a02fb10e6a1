"""train/visualize.py: the filter grid and the comparison of runs on one figure."""
import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule import models, nn  # noqa: E402
from chainrule.train.visualize import (filter_mosaic, first_conv, plot_comparison,  # noqa: E402
                                       plot_filters)

PNG = b"\x89PNG\r\n\x1a\n"


def test_filter_mosaic_tiles_and_scales_each_filter():
    w = np.arange(5 * 1 * 2 * 3, dtype=np.float32).reshape(5, 1, 2, 3)
    w[1] *= -10  # a filter of another scale and sign
    m = filter_mosaic(w, gap=1)
    # 5 filters on ceil(sqrt 5) = 3 columns, 2 rows of 2x3 tiles with 1-pixel gaps
    assert m.shape == (2 * 2 + 1, 3 * 3 + 2)
    ramp = np.linspace(0, 1, 6).reshape(2, 3)
    np.testing.assert_allclose(m[0:2, 0:3], ramp)           # filter 0, min -> 0, max -> 1
    np.testing.assert_allclose(m[0:2, 4:7], ramp[::-1, ::-1])  # filter 1: scaled on its own
    np.testing.assert_allclose(m[3:5, 4:7], ramp)           # filter 4, second row
    assert np.isnan(m[2]).all() and np.isnan(m[:, 3]).all()  # gaps
    assert np.isnan(m[3:5, 8:11]).all()                      # the empty sixth place
    constant = filter_mosaic(np.ones((1, 1, 3, 3)))
    np.testing.assert_array_equal(constant, 0)                # no division by zero


def test_filter_mosaic_rgb_and_many_input_channels():
    rgb = filter_mosaic(np.random.default_rng(0).standard_normal((4, 3, 5, 5)))
    assert rgb.shape == (11, 11, 3)
    assert np.nanmin(rgb) == 0 and np.nanmax(rgb) == 1
    multi = filter_mosaic(np.random.default_rng(0).standard_normal((2, 4, 3, 3)))
    assert multi.shape == (2 * 4 - 1, 4 * 4 - 1)  # a row per filter, a column per input channel
    with pytest.raises(ValueError, match=r"filter_mosaic: expected conv weights "
                                         r"\(C_out, C_in, kh, kw\), got shape \(3, 3\)"):
        filter_mosaic(np.zeros((3, 3)))


def test_first_conv():
    net = models.lenet5()
    assert first_conv(net) is net.features[0]
    r = models.resnet20(in_channels=1)
    assert first_conv(r) is r.conv1 and first_conv(r).weight.shape == (16, 1, 3, 3)
    assert first_conv(nn.Sequential(nn.Linear(3, 2))) is None


def test_plot_filters_from_a_layer_a_tensor_or_an_array(tmp_path):
    conv = nn.Conv2d(1, 6, 5)
    plot_filters(conv, tmp_path / "a.png", title="six")
    plot_filters(nn.Conv2d(3, 8, 3).weight, tmp_path / "b.png")
    plot_filters(np.random.default_rng(0).standard_normal((4, 2, 3, 3)), tmp_path / "c.png")
    for name in ("a.png", "b.png", "c.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]


def test_plot_comparison(tmp_path):
    bn = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5 + e / 20, "val_loss": 1.1 / e,
           "val_acc": 0.5 + e / 25} for e in range(1, 6)]
    diverged = [{"epoch": 1, "train_loss": 2.3, "train_acc": 0.1, "val_loss": math.inf,
                 "val_acc": 0.1}, {"epoch": 2, "train_loss": math.nan, "train_acc": 0.1,
                                   "val_loss": None, "val_acc": None}]
    plot_comparison({"with BN": bn, "without BN, diverged": diverged}, tmp_path / "cmp.png",
                    title="BN")
    assert (tmp_path / "cmp.png").read_bytes()[:8] == PNG
    loss_only = {"a": [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}]}
    plot_comparison(loss_only, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "loss.png"]  # no temp files
    with pytest.raises(ValueError, match="plot_comparison: expected at least one run"):
        plot_comparison({}, tmp_path / "none.png")


def test_plot_comparison_draws_what_it_is_given(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    original = Axes.plot

    def spy(self, *args, **kwargs):
        drawn.append((kwargs.get("label"), list(args[0]), list(args[1])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    runs = {"x": [{"epoch": 1, "train_loss": 2.0, "train_acc": 0.25, "val_loss": math.nan,
                   "val_acc": 0.5}, {"epoch": 2, "train_loss": 1.0, "train_acc": 0.75,
                                     "val_loss": 0.5, "val_acc": 0.625}]}
    plot_comparison(runs, tmp_path / "x.png")
    assert ("x (train)", [1, 2], [2.0, 1.0]) in drawn
    assert ("x (val)", [2], [0.5]) in drawn            # the NaN loss is left out
    assert ("x (train)", [1, 2], [25.0, 75.0]) in drawn  # accuracy in percent
    assert ("x (val)", [1, 2], [50.0, 62.5]) in drawn
    assert len(drawn) == 4
