"""Recurrent layers (notes 3.1-3.3): RNN, LSTM and GRU over whole sequences, stacked and
bidirectional, and their one-step cells RNNCell, LSTMCell, GRUCell.

Each layer and direction is one call of a fused whole-sequence op (``chainrule.ops.rnn``,
``lstm``, ``gru``) whose backward is back-propagation through time derived by hand; see
src/chainrule/ops/recurrent.py for the equations and the derivation.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import backend, ops
from ..ops import recurrent as R
from ..ops._util import OpError, OpTypeError
from ..ops.dropout import check_p
from ..ops.dropout import dropout as _dropout
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_size(who, name, v, minimum):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"{who}: {name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _shape(t):
    return tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__


class RNNBase(Module):
    """The stack of recurrent layers behind RNN, LSTM and GRU (``mode`` one of 'RNN_TANH',
    'RNN_RELU', 'LSTM', 'GRU'); parameters, shapes and options as PyTorch's."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"RNNBase: unknown mode {mode!r}; expected one of {list(_GATES)}")
        who = type(self).__name__
        self.mode = mode
        self.input_size = _check_size(who, "input_size", input_size, 0)
        self.hidden_size = _check_size(who, "hidden_size", hidden_size, 1)
        self.num_layers = _check_size(who, "num_layers", num_layers, 1)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_p(dropout, who)
        self.bidirectional = bool(bidirectional)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{who}: dropout={self.dropout} acts between recurrent layers, so with "
                          f"num_layers=1 it does nothing", UserWarning, stacklevel=2)
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        G, H, D = _GATES[mode] * self.hidden_size, self.hidden_size, self.num_directions
        self._flat_weights_names = []
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else H * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (G, n_in)), ("weight_hh", (G, H))]
                if self.bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                for name, shape in shapes:
                    setattr(self, name + sfx, Parameter(np.empty(shape, dt)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def flatten_parameters(self):
        """Accepted for PyTorch compatibility (a no-op: the weights are used as they are)."""

    @property
    def all_weights(self):
        """[[w_ih, w_hh, b_ih, b_hh] for each layer and direction], as PyTorch."""
        per = 4 if self.bias else 2
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i:i + per] for i in range(0, len(ws), per)]

    def _desc(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def _input(self, input, lengths):
        """(x as (T, B, I), lengths, how to give the output back)."""
        who = self._desc()
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise OpError(f"{who}: a PackedSequence carries its lengths; don't pass lengths "
                              f"as well")
            x = input.data
            if x.ndim != 3 or x.shape[-1] != self.input_size:
                raise OpError(f"{who}: expected packed data (T, B, {self.input_size}), got "
                              f"{tuple(x.shape)}")
            return x, input.lengths, "packed"
        want = "(B, T, {})" if self.batch_first else "(T, B, {})"
        if not isinstance(input, Tensor) or input.ndim not in (2, 3) or \
                input.shape[-1] != self.input_size:
            raise OpError(f"{who}: expected input {want.format(self.input_size)}, got "
                          f"{_shape(input)}")
        if input.ndim == 2:
            if lengths is not None:
                raise OpError(f"{who}: lengths needs a batch; got an unbatched input "
                              f"{tuple(input.shape)}")
            return input.unsqueeze(1), None, "unbatched"
        if self.batch_first:
            return input.transpose(0, 1), lengths, "batch_first"
        return input, lengths, "plain"

    def _initial_states(self, hx, B, unbatched):
        """hx -> one list per state (h, and c for the LSTM) of (B, H) tensors or Nones."""
        who = self._desc()
        n_states = 2 if self.mode == "LSTM" else 1
        n = self.num_layers * self.num_directions
        if hx is None:
            return [[None] * n for _ in range(n_states)]
        if n_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise OpTypeError(f"{who}: expected hx = (h_0, c_0), a pair of tensors, got "
                                  f"{type(hx).__name__}")
            states = list(hx)
        else:
            states = [hx]
        want = (n, self.hidden_size) if unbatched else (n, B, self.hidden_size)
        out = []
        for k, s in enumerate(states):
            name = ("h_0", "c_0")[k]
            if not isinstance(s, Tensor) or tuple(s.shape) != want:
                label = f"hx[{k}] ({name})" if n_states == 2 else f"hx ({name})"
                raise OpError(f"{who}: expected {label} of shape {want}, got {_shape(s)}")
            if unbatched:
                s = s.unsqueeze(1)
            out.append([s[i] for i in range(n)])
        return out

    def forward(self, input, hx=None, lengths=None):
        """Run the stack over whole sequences.

        Args:
            input: (T, B, input_size) ((B, T, input_size) with batch_first), an unbatched
                (T, input_size), or a PackedSequence.
            hx: initial states (num_layers * num_directions, B, H) (a pair (h_0, c_0) for the
                LSTM); zeros when None.
            lengths: optional B ints in [0, T]: sequence b has lengths[b] real steps; padding
                never leaks into states, outputs (0 there) or gradients.

        Returns (output, h_n) ((output, (h_n, c_n)) for the LSTM): output (T, B, D * H) (in the
        input's layout, or a PackedSequence), states (num_layers * D, B, H).
        """
        x, lengths, kind = self._input(input, lengths)
        T, B = x.shape[0], x.shape[1]
        who = self._desc()
        if T == 0:
            raise OpError(f"{who}: expected at least one time step, got input "
                          f"{_shape(input)}")
        lengths = R._as_lengths(lengths, T, B, who)
        init_states = self._initial_states(hx, B, kind == "unbatched")
        D, per = self.num_directions, (4 if self.bias else 2)
        ws = [getattr(self, n) for n in self._flat_weights_names]
        finals = [[] for _ in init_states]
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                w = ws[k * per:(k + 1) * per]
                if per == 2:
                    w = w + [None, None]
                if w[0].dtype != x.dtype:
                    raise OpTypeError(f"{who}: input has dtype {x.dtype} but the parameters "
                                      f"have {w[0].dtype}; convert one (e.g. module.to(dtype))")
                if self.mode == "LSTM":
                    y, (h, c) = ops.lstm(x, (init_states[0][k], init_states[1][k]), *w,
                                         lengths=lengths, reverse=bool(d))
                    finals[1].append(c)
                elif self.mode == "GRU":
                    y, h = ops.gru(x, init_states[0][k], *w, lengths=lengths, reverse=bool(d))
                else:
                    y, h = ops.rnn(x, init_states[0][k], *w, lengths=lengths, reverse=bool(d),
                                   nonlinearity="relu" if self.mode == "RNN_RELU" else "tanh")
                finals[0].append(h)
                outs.append(y)
            x = outs[0] if D == 1 else ops.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = _dropout(x, self.dropout, True)  # between layers, in training only
        states = [ops.stack(f, 0) if len(f) > 1 else f[0].unsqueeze(0) for f in finals]
        if kind == "packed":
            x = PackedSequence(x, input.lengths, input.sorted_indices, input.unsorted_indices)
        elif kind == "unbatched":
            x = x.squeeze(1)
            states = [s.squeeze(1) for s in states]
        elif kind == "batch_first":
            x = x.transpose(0, 1)
        return (x, tuple(states)) if self.mode == "LSTM" else (x, states[0])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """The plain recurrent network of notes 3.1, stacked: for each layer and direction,

        h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   f = tanh or relu

    (the notes' s_t = f(U x_t + W s_{t-1})); the input of layer l > 0 is the output of layer l - 1
    (both directions concatenated), with dropout between layers when training.

    Args:
        input_size, hidden_size: sizes of x_t and h_t.
        num_layers: stacked layers (default 1).
        nonlinearity: 'tanh' (default) or 'relu'.
        bias: learn b_ih and b_hh (default True).
        batch_first: input and output are (B, T, *) instead of (T, B, *).
        dropout: probability of dropout on the outputs of every layer but the last.
        bidirectional: add a layer running backward in time; outputs are concatenated.

    Shape: input (T, B, input_size) -> output (T, B, D * hidden_size), h_n
    (num_layers * D, B, hidden_size), D = 2 if bidirectional else 1. ``forward(input, hx=None,
    lengths=None)``; see :meth:`RNNBase.forward`.

    Parameters (PyTorch's names): weight_ih_l{k} (H, in), weight_hh_l{k} (H, H), bias_ih_l{k},
    bias_hh_l{k} (H,), and the same with suffix _reverse; all from U(-1/sqrt(H), 1/sqrt(H)).

    Example::

        >>> rnn = RNN(10, 20, num_layers=2)
        >>> out, h_n = rnn(cr.randn(5, 3, 10))     # (5, 3, 20), (2, 3, 20)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or "
                             f"'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (notes 3.2), stacked: for each layer and direction,

        i, f, o = sigmoid(W_i. x_t + b_i. + W_h. h_{t-1} + b_h.)    input, forget, output gates
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)             the notes' Delta c_t
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Args as :class:`RNN` (no nonlinearity). Shape: input (T, B, input_size) -> output
    (T, B, D * H), (h_n, c_n) each (num_layers * D, B, H). ``forward(input, hx=None, lengths=None)``
    with hx = (h_0, c_0).

    Parameters: weight_ih_l{k} (4H, in), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,),
    the gates stacked in the order (i, f, g, o) as PyTorch; suffix _reverse for the backward
    direction.

    Example::

        >>> lstm = LSTM(10, 20, batch_first=True)
        >>> out, (h_n, c_n) = lstm(cr.randn(3, 5, 10))     # (3, 5, 20), (1, 3, 20) each
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (notes 3.3), stacked: for each layer and direction,

        r, z = sigmoid(W_i. x_t + b_i. + W_h. h_{t-1} + b_h.)        reset, update gates
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))        new information
        h_t = (1 - z) * n + z * h_{t-1}

    (PyTorch's convention; the notes write z for what is 1 - z here.) Args and shapes as
    :class:`RNN`. Parameters: weight_ih_l{k} (3H, in), weight_hh_l{k} (3H, H), biases (3H,), gates
    stacked (r, z, n).

    Example::

        >>> gru = GRU(10, 20, bidirectional=True)
        >>> out, h_n = gru(cr.randn(5, 3, 10))      # (5, 3, 40), (2, 3, 20)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


# ---- cells -------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One step of a recurrent layer: weight_ih (G, in), weight_hh (G, H), bias_ih, bias_hh (G,)."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        who = type(self).__name__
        self.input_size = _check_size(who, "input_size", input_size, 0)
        self.hidden_size = _check_size(who, "hidden_size", hidden_size, 1)
        self.bias = bool(bias)
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        G = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((G, self.input_size), dt))
        self.weight_hh = Parameter(np.empty((G, self.hidden_size), dt))
        if self.bias:
            self.bias_ih = Parameter(np.empty(G, dt))
            self.bias_hh = Parameter(np.empty(G, dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _step_input(self, input, hx, n_states):
        """(x (B, in), states as (B, H) tensors or None, unbatched?) with shapes checked."""
        who = f"{type(self).__name__}({self.input_size}, {self.hidden_size})"
        if not isinstance(input, Tensor) or input.ndim not in (1, 2) or \
                input.shape[-1] != self.input_size:
            raise OpError(f"{who}: expected input (B, {self.input_size}) or "
                          f"({self.input_size},), got {_shape(input)}")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        if x.dtype != self.weight_ih.dtype:
            raise OpTypeError(f"{who}: input has dtype {x.dtype} but the parameters have "
                              f"{self.weight_ih.dtype}; convert one (e.g. module.to(dtype))")
        if hx is None:
            return x, [None] * n_states, unbatched
        states = list(hx) if n_states == 2 else [hx]
        if n_states == 2 and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise OpTypeError(f"{who}: expected hx = (h, c), a pair of tensors, got "
                              f"{type(hx).__name__}")
        want = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        for k, s in enumerate(states):
            if not isinstance(s, Tensor) or tuple(s.shape) != want:
                label = f"hx[{k}]" if n_states == 2 else "hx"
                raise OpError(f"{who}: expected {label} of shape {want}, got {_shape(s)}")
        return x, [s.unsqueeze(0) if unbatched else s for s in states], unbatched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s


class RNNCell(RNNCellBase):
    """One step h' = f(W_ih x + b_ih + W_hh h + b_hh), f = tanh or relu (notes 3.1).

    Shape: input (B, input_size) or (input_size,), hx (B, H) or (H,) (zeros when None) -> h'.

    Example::

        >>> cell = RNNCell(10, 20)
        >>> h = cell(cr.randn(3, 10))            # (3, 20); then h = cell(x_t, h) step by step
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; expected 'tanh' "
                             f"or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._step_input(input, hx, 1)
        cell = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        out = cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out


class LSTMCell(RNNCellBase):
    """One LSTM step (notes 3.2): (h', c') from x and (h, c), gates (i, f, g, o) as :class:`LSTM`.

    Shape: input (B, input_size) or (input_size,), hx = (h, c) each (B, H) or (H,) (zeros when
    None) -> (h', c').

    Example::

        >>> cell = LSTMCell(10, 20)
        >>> h, c = cell(cr.randn(3, 10))         # then h, c = cell(x_t, (h, c))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, (h, c), unbatched = self._step_input(input, hx, 2)
        h2, c2 = R.lstm_cell(x, None if h is None else (h, c), self.weight_ih, self.weight_hh,
                             self.bias_ih, self.bias_hh)
        return (h2.squeeze(0), c2.squeeze(0)) if unbatched else (h2, c2)


class GRUCell(RNNCellBase):
    """One GRU step (notes 3.3): h' from x and h, gates (r, z, n) as :class:`GRU`.

    Shape: input (B, input_size) or (input_size,), hx (B, H) or (H,) (zeros when None) -> h'.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._step_input(input, hx, 1)
        out = R.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out
