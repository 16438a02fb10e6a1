"""A character-level language model: the RNN for sequence generation of the notes (3.4, Figure 18).

x_t is the current character (an id: the one-hot vector times the embedding matrix), y_t the next
one. The RNN (notes 3.1-3.3: vanilla, LSTM or GRU) keeps a thought vector h_t of everything read so
far, and the decoder maps it to the softmax probabilities of the next character:

    e_t = E[x_t],   h_t = RNN(e_t, h_{t-1}),   p(y_t = k | x_1..x_t) = softmax(W_o h_t + b_o)_k.

Training minimizes the cross-entropy of the next character with truncated back-propagation through
time: the text comes in contiguous batches (``CharDataset.bptt_batches``), the state is carried from
batch to batch and detached in between (``detach_state``), so gradients flow back seq_len steps
while the state remembers further. Sampling feeds each drawn character back in as the next input.
"""
from __future__ import annotations

import numpy as np

from .. import backend, nn
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor

_CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def detach_state(state):
    """The recurrent state cut from the graph (h, or a tuple (h, c)); None stays None.

    Call it between the batches of truncated BPTT so that backward stops at the batch boundary."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state.detach()


def sample_logits(logits, temperature=1.0, top_k=None):
    """Draw one id per row of ``logits`` (B, V) (NumPy) from softmax(logits / temperature), using
    the backend RNG; ``temperature == 0`` takes the argmax; ``top_k`` keeps the k largest only."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return logits.argmax(-1)
    z = logits / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    u = backend.get_rng().random((z.shape[0], 1))
    idx = (p.cumsum(-1) < u).sum(-1)  # inverse CDF
    return np.minimum(idx, z.shape[-1] - 1)


class CharRNN(nn.Module):
    """Embedding -> RNN/LSTM/GRU -> Linear over the vocabulary: a next-character model.

    Args:
        vocab_size: V, the number of characters.
        embed_dim: size of the character embeddings E[x].
        hidden_size: H, size of the thought vector h_t.
        num_layers: stacked recurrent layers.
        cell: 'lstm', 'gru' or 'rnn' (tanh).
        dropout: dropout between stacked layers and before the output layer (training only).

    Shape: ``forward(x, state=None)``: x int64 (B, T) -> (logits (B, T, V), state); the state is
    h_n (num_layers, B, H), or (h_n, c_n) for the LSTM, to pass to the next call.

    Example::

        >>> model = CharRNN(65, cell="lstm")
        >>> logits, state = model(cr.randint(0, 65, (32, 64)))        # (32, 64, 65)
        >>> logits, state = model(next_x, detach_state(state))        # continue the streams
        >>> model.sample("ROMEO:", 200, temperature=0.8, vocab=ds.vocab)
    """

    def __init__(self, vocab_size, embed_dim=64, hidden_size=256, num_layers=1, cell="lstm",
                 dropout=0.0):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"CharRNN: cell must be one of {list(_CELLS)}, got {cell!r}")
        self.vocab_size, self.embed_dim, self.hidden_size = vocab_size, embed_dim, hidden_size
        self.num_layers, self.cell, self.dropout_p = num_layers, cell, dropout
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        rnn_cls = getattr(nn, _CELLS[cell])
        self.rnn = rnn_cls(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        if not isinstance(x, Tensor) or x.ndim != 2 or x.dtype.kind not in "iu":
            got = (f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__)
            raise ValueError(f"CharRNN({self.vocab_size}): expected input ids int64 (B, T), got "
                             f"{got}")
        out, state = self.rnn(self.embedding(x), state)  # (B, T, H)
        return self.decoder(self.drop(out)), state  # (B, T, V)

    def init_state(self, batch_size):
        """The zero state for ``batch_size`` streams (what ``state=None`` means)."""
        dt = self.decoder.weight.dtype
        h = Tensor._make(np.zeros((self.num_layers, batch_size, self.hidden_size), dt), False,
                         None, 0)
        if self.cell == "lstm":
            return h, Tensor._make(np.zeros_like(h.data), False, None, 0)
        return h

    def sample(self, prime, length, temperature=1.0, top_k=None, vocab=None):
        """Generate ``length`` characters after ``prime``.

        Args:
            prime: a non-empty str (needs ``vocab``) or a sequence of ids, read first.
            length: number of characters to generate.
            temperature: divides the logits; smaller is more conservative, 0 takes the argmax.
            top_k: draw only among the k most likely characters.
            vocab: a ``Vocabulary`` to encode the prime and decode the result.

        Returns:
            The generated text (str, without the prime) with ``vocab``, else a list of ids.
            Draws come from the backend RNG (``chainrule.manual_seed`` makes them reproducible).
        """
        if temperature < 0:
            raise ValueError(f"CharRNN.sample: temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"CharRNN.sample: top_k must be >= 1, got {top_k}")
        if isinstance(prime, str):
            if vocab is None:
                raise ValueError("CharRNN.sample: a str prime needs vocab= to encode it")
            ids = vocab.encode(prime)
        else:
            ids = [int(i) for i in prime]
        if not ids:
            raise ValueError("CharRNN.sample: the prime must hold at least one character")
        was_training = self.training
        self.eval()
        out = []
        try:
            with no_grad():
                x = Tensor._make(np.array([ids], dtype=np.int64), False, None, 0)
                logits, state = self(x)
                for i in range(length):
                    nxt = int(sample_logits(logits.data[:, -1], temperature, top_k)[0])
                    out.append(nxt)
                    if i + 1 < length:  # feed the drawn character back in
                        x = Tensor._make(np.array([[nxt]], dtype=np.int64), False, None, 0)
                        logits, state = self(x, state)
        finally:
            self.train(was_training)
        return vocab.decode(out, strip_specials=False, stop_at_eos=False) if vocab is not None \
            else out

    def extra_repr(self):
        return (f"vocab_size={self.vocab_size}, cell={self.cell!r}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}")
