"""train/attention_plot.py: the attention heat-maps PNG and its input checks."""
import numpy as np
import pytest

from chainrule.train.attention_plot import plot_attention

PNG = b"\x89PNG\r\n\x1a\n"


def _weights(T, S, seed=0):
    w = np.random.default_rng(seed).random((T, S))
    return w / w.sum(1, keepdims=True)


def test_plot_attention_writes_a_png_per_figure(tmp_path):
    path = tmp_path / "attention.png"
    examples = [(_weights(11, 9), list("3 mar 1999"[:9]), list("1999-03-03")),  # + <eos> row
                (_weights(3, 5, 1).tolist(), list("12+34"), list("46")),
                (_weights(4, 7, 2), list("1 2 3 4"), list("abcd"))]
    plot_attention(examples, path, title="three examples")
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5000
    from matplotlib.image import imread

    h, w = imread(str(path)).shape[:2]
    assert w > 600 and h > 600  # two panels a row, two rows
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically


def test_plot_attention_checks_its_examples(tmp_path):
    with pytest.raises(ValueError, match="no examples"):
        plot_attention([], tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"example 0 has weights \(2, 3\) for 4 source"):
        plot_attention([(_weights(2, 3), list("abcd"), list("xy"))], tmp_path / "a.png")
    with pytest.raises(ValueError, match="expected \\(>= 3, 3\\)"):
        plot_attention([(_weights(2, 3), list("abc"), list("xyz"))], tmp_path / "a.png")
    with pytest.raises(ValueError, match="must be \\(weights, source_tokens, output_tokens\\)"):
        plot_attention([_weights(2, 3)], tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
