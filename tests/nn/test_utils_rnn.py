"""pad_sequence, pack_padded_sequence, pad_packed_sequence and friends against torch."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence,
                                    pad_packed_sequence, pad_sequence, unpack_sequence,
                                    unpad_sequence)


def seqs(dtype=np.float64):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((n, 3)).astype(dtype) for n in (4, 2, 5)]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, padding_side):
    torch = pytest.importorskip("torch")
    arrs = seqs()
    xs = [cr.tensor(a, requires_grad=True) for a in arrs]
    out = pad_sequence(xs, batch_first=batch_first, padding_value=-1.5, padding_side=padding_side)
    want = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(a) for a in arrs],
                                           batch_first=batch_first, padding_value=-1.5,
                                           padding_side=padding_side)
    np.testing.assert_array_equal(out.data, want.numpy())
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(cr.tensor(g))
    for k, x in enumerate(xs):  # each sequence gets back the gradient of its own positions
        n = x.shape[0]
        rows = slice(0, n) if padding_side == "right" else slice(5 - n, 5)
        gk = g[k, rows] if batch_first else g[rows, k]
        np.testing.assert_array_equal(x.grad.data, gk)


def test_pack_pad_roundtrip_like_torch():
    torch = pytest.importorskip("torch")
    padded = pad_sequence([cr.tensor(a) for a in seqs()])  # (5, 3, 3)
    lengths = [4, 2, 5]
    packed = pack_padded_sequence(padded, lengths, enforce_sorted=False)
    assert isinstance(packed, PackedSequence) and packed.data.shape == (5, 3, 3)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(padded.data),
                                                      lengths, enforce_sorted=False)
    assert packed.batch_sizes.data.tolist() == tpacked.batch_sizes.tolist()
    assert packed.sorted_indices.data.tolist() == tpacked.sorted_indices.tolist()
    assert packed.unsorted_indices.data.tolist() == tpacked.unsorted_indices.tolist()
    for bf in (False, True):
        y, lens = pad_packed_sequence(packed, batch_first=bf, padding_value=9.0, total_length=7)
        ty, tlens = torch.nn.utils.rnn.pad_packed_sequence(tpacked, batch_first=bf,
                                                           padding_value=9.0, total_length=7)
        np.testing.assert_array_equal(y.data, ty.numpy())
        assert lens.data.tolist() == tlens.tolist() == lengths
    assert [u.shape for u in unpack_sequence(packed)] == [(4, 3), (2, 3), (5, 3)]
    assert [u.shape for u in unpad_sequence(padded, lengths)] == [(4, 3), (2, 3), (5, 3)]


def test_pack_trims_to_longest_and_batch_first():
    x = cr.randn(2, 6, 3)  # (B, T, F)
    packed = pack_padded_sequence(x, [4, 3], batch_first=True)
    assert packed.data.shape == (4, 2, 3) and packed.sorted_indices is None
    np.testing.assert_array_equal(packed.data.data, x.data.transpose(1, 0, 2)[:4])
    assert pack_sequence([cr.randn(3, 2), cr.randn(1, 2)]).lengths.data.tolist() == [3, 1]


def test_errors():
    x = cr.randn(5, 3, 2)
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack_padded_sequence(x, [2, 5, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        pack_padded_sequence(x, [6, 5, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        pack_padded_sequence(x, [5, 3, 0])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        pack_padded_sequence(x, [5, 3])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(pack_padded_sequence(x, [5, 4, 3]), total_length=3)
    with pytest.raises(ValueError, match=r"sequence 1 is \(2, 4\)"):
        pad_sequence([cr.randn(3, 2), cr.randn(2, 4)])
    with pytest.raises(TypeError, match="expected a PackedSequence"):
        pad_packed_sequence(x)
