"""The differentiable ops, one file per family; each op a small Function with a hand-derived
backward. ``chainrule.ops.<name>`` is the functional form used by Tensor methods and operators."""
from . import compare, elementwise, index, linalg, reduce, shape, softmax  # noqa: F401
from .conv import conv2d, conv_transpose2d
from .compare import (allclose, eq, equal, ge, gt, le, logical_and, logical_not, logical_or,
                      logical_xor, lt, ne)
from .elementwise import (abs, add, cast, ceil, clamp, clip, clone, cos, div, exp, floor,
                          floor_divide, isfinite, isinf, isnan, leaky_relu, log, log1p, maximum,
                          minimum, mul, neg, pow, reciprocal, relu, remainder, round, rsqrt,
                          sigmoid, sign, sin, softplus, sqrt, square, sub, tanh, where)
from .index import gather, getitem, index_select, masked_fill
from .linalg import bmm, dot, linear, matmul, mm
from .reduce import all, amax, amin, any, argmax, argmin, max, mean, min, norm, std, sum, var
from .shape import (broadcast_to, cat, chunk, concat, expand, expand_as, flatten, flip, pad,
                    permute, repeat, reshape, reshape_as, split, squeeze, stack, t, transpose,
                    unbind, unsqueeze, view, view_as)
from .softmax import log_softmax, logsumexp, softmax
from .recurrent import (gru, gru_cell, lstm, lstm_cell, rnn, rnn_relu_cell,
                        rnn_tanh_cell)
from .attention import additive_scores, attend, length_mask, scaled_dot_product_attention
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from .dropout import dropout2d
from .normalization import batch_norm, local_response_norm
from .elementwise import to_device  # noqa: E402  (Tensor.to(device): moves data, differentiable)
