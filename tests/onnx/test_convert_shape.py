"""ONNX export of shape ops, indexing and the embedding lookup, with a batch size that changes."""
import numpy as np

import chainrule as cr
from chainrule import nn, ops

from .helpers import onnx, roundtrip


class Shapes(nn.Module):
    def forward(self, x):  # x (N, 2, 3, 4)
        n = x.shape[0]
        a = x.view(n, -1)  # (N, 24): the batch dim becomes -1 in the file
        b = ops.flatten(x, 2).permute(0, 2, 1)  # (N, 12, 2)
        c = ops.cat([b, b * 2], 2)  # (N, 12, 4)
        d = ops.stack([c, -c], 1)  # (N, 2, 12, 4)
        e = d.reshape(n * 2, 12, 4)  # the batch merged with another dim
        f = e.reshape(n, 2, 48)  # and split again
        g = ops.pad(x, (1, 2, 0, 1), value=0.5)  # (N, 2, 4, 7)
        h = ops.flip(x, (1, 3))
        i = x.unsqueeze(1).squeeze(1).repeat(1, 2, 1, 1)  # (N, 4, 3, 4)
        return a, f, g, h, i


def test_reshape_permute_cat_stack_pad_flip_repeat(tmp_path):
    proto, _ = roundtrip(Shapes(), cr.randn(3, 2, 3, 4), tmp_path, others=[cr.randn(5, 2, 3, 4)])
    ops_used = {n.op_type for n in proto.graph.node}
    assert {"Reshape", "Transpose", "Concat", "Pad", "Slice", "Tile"} <= ops_used


def test_reshape_of_a_batch_of_one_is_not_mistaken_for_a_constant(tmp_path):
    """With batch size 1, every size-1 dim looks alike; the second trace tells the batch apart."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2), nn.Unflatten(1, (2, 1)))
    roundtrip(model, cr.randn(1, 3, 4), tmp_path, others=[cr.randn(4, 3, 4)])


class Indexing(nn.Module):
    def forward(self, x):  # x (N, 5, 6)
        a = x[:, 1:4, ::2]  # slices with a step
        b = x[:, -1]  # an int: the dim goes
        c = x[..., None, 2]  # Ellipsis, a new dim, an int
        d = x[:, ::-2, 1:-1]  # a negative step
        e = ops.index_select(x, 2, cr.tensor([4, 0, 4]))  # one integer array: Gather
        f = x[0]  # an int on the batch dim
        g1, g2 = ops.chunk(x, 2, dim=2)
        return a, b, c, d, e, f, g1 - g2, ops.unbind(x, 1)[3]


def test_basic_indexing_split_and_index_select(tmp_path):
    roundtrip(Indexing(), cr.randn(2, 5, 6), tmp_path, others=[cr.randn(3, 5, 6)])


def test_expand_of_the_batch_dim_and_gather(tmp_path):
    class M(nn.Module):
        def forward(self, x):  # x (N, 1, 3)
            y = x.expand(-1, 4, 3)
            idx = cr.tensor(np.array([[[2, 0, 1]] * 4], np.int64))  # (1, 4, 3)
            return y, ops.gather(y[:1], 2, idx)

    roundtrip(M(), cr.randn(2, 1, 3), tmp_path, others=[cr.randn(5, 1, 3)])


def test_embedding_is_a_gather_on_the_graph_input(tmp_path):
    model = nn.Sequential(nn.Embedding(11, 4, padding_idx=0), nn.Flatten(), nn.Linear(12, 3))
    ids = cr.randint(0, 11, (2, 3))
    proto, _ = roundtrip(model, ids, tmp_path, others=[cr.randint(0, 11, (6, 3))])
    gather = [n for n in proto.graph.node if n.op_type == "Gather"]
    assert gather and gather[0].input[1] == "input"  # the ids are the input, not a constant
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_embedding_of_int32_ids(tmp_path):
    model = nn.Embedding(7, 3)
    ids = cr.tensor(np.array([[1, 6], [0, 2]], np.int32))
    roundtrip(model, ids, tmp_path, others=[cr.tensor(np.array([[5, 5]], np.int32))])
