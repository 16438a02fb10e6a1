"""Image captioning: a CNN's thought vector of an image decoded into a sentence (notes 3.4).

    image (B, 3, H, W) [+ 2 coordinate planes x, y in [-1, 1] (CoordConv)]
        -> CNN: n x [Conv2d 3x3 (stride 2) -> BatchNorm2d -> ReLU] -> features F (B, C, h, w)
        -> the memory: the h*w feature vectors f_j [; x_j, y_j, the cell's coordinates]
           (B, S = h*w, D = C [+ 2])
        -> the thought vector: flatten(F) -> s_0 = tanh(W_h flatten(F) + b_h)
           (and for an LSTM the cell c_0 = tanh(W_c flatten(F) + b_c))

    decoder (LSTM or GRU), one step per word, reading the previous word y_{t-1}:
      without attention:  s_t = Cell(E[y_{t-1}], s_{t-1}),     p(y_t) = softmax(W_o s_t + b_o)
      with attention (Show, Attend and Tell, Xu et al. 2015): the previous state queries the
      memory,  a_tj = softmax_j(w^T tanh(W_q s_{t-1} + W_k f_j + b)),  c_t = sum_j a_tj f_j,
                          s_t = Cell([E[y_{t-1}]; c_t], s_{t-1}),
                          p(y_t) = softmax(W_o [s_t; c_t] + b_o)

Training is teacher forcing: ``forward(images, captions_in)`` reads <bos> y_1 .. y_n and returns
the logits (B, T, V) of y_1 .. y_n <eos>; ``loss(images, captions)`` is their cross-entropy over
the real tokens (padding ignored). Without attention the whole caption runs through the RNN in
one fused call; with attention the steps run one by one (c_t depends on s_{t-1}).

Generation: ``greedy_decode`` (argmax each step), ``beam_search`` (the ``beam_width`` best partial
captions), or ``generate(images, max_len, beam_width)`` (greedy when beam_width is 1). With
attention they also return, per caption, the weights a (n_words, h, w): where the model looked
when it wrote each word.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..ops import cat, stack, tanh
from ..tensor import Tensor

_CELLS = {"lstm": "LSTM", "gru": "GRU"}


def _raw(a, dtype=None):
    a = np.ascontiguousarray(a if dtype is None else a.astype(dtype))
    return Tensor._make(a, False, None, 0)


def _coord_planes(B, H, W, dtype):
    """(B, 2, H, W): x (column) and y (row) rescaled to [-1, 1]."""
    ys, xs = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    return np.broadcast_to(np.stack([xs, ys]).astype(dtype), (B, 2, H, W))


class Captioner(nn.Module):
    """CNN encoder -> thought vector -> LSTM/GRU decoder, optionally attending over the CNN's
    spatial features (see the module docstring for the equations).

    Args:
        vocab_size: V, the words (ids in [0, V)).
        image_size: H = W of the input images.
        channels: output channels of the conv blocks (default (32, 32, 64)).
        strides: the blocks' strides (default 2 each); the feature map is h x w.
        embed_dim: word embedding size.
        hidden_size: the decoder's state size (and the thought vector's).
        cell: 'lstm' or 'gru'.
        attention: attend over the h*w feature positions at each step (Show, Attend and Tell).
        attention_dim: size of the space where the state and the features are compared.
        coords: append the x, y coordinate planes to the image, and each feature cell's x, y to
            its memory vector (so what the decoder attends to says where it is).
        dropout: dropout on the decoder's output features (training only).
        pad_id, bos_id, eos_id: the special word ids.

    Shapes: images float (B, 3, H, W); captions_in int64 (B, T) -> logits (B, T, V); with
    ``return_attention=True`` also the weights (B, T, h*w).

    Example::

        >>> model = Captioner(len(vocab), image_size=32, attention=True)
        >>> loss = model.loss(batch.images, batch.captions)     # <bos> words <eos> <pad>...
        >>> seqs, weights = model.generate(batch.images, max_len=16, beam_width=3)
    """

    def __init__(self, vocab_size, image_size=32, channels=(32, 32, 64), strides=None,
                 embed_dim=32, hidden_size=128, cell="lstm", attention=False, attention_dim=64,
                 coords=True, dropout=0.0, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"Captioner: cell must be one of {list(_CELLS)}, got {cell!r}")
        channels = tuple(int(c) for c in channels)
        strides = (2,) * len(channels) if strides is None else tuple(int(s) for s in strides)
        if not channels or len(strides) != len(channels) or min(channels) < 1 \
                or min(strides) < 1:
            raise ValueError(f"Captioner: need at least one conv block, positive channels and "
                             f"one stride (>= 1) per block, got channels {channels} and strides "
                             f"{strides}")
        for name, v in (("vocab_size", vocab_size), ("image_size", image_size),
                        ("embed_dim", embed_dim), ("hidden_size", hidden_size),
                        ("attention_dim", attention_dim)):
            if int(v) < 1:
                raise ValueError(f"Captioner: {name} must be >= 1, got {v}")
        self.vocab_size, self.image_size = int(vocab_size), int(image_size)
        self.cell, self.attention = cell, bool(attention)
        self.hidden_size, self.coords = int(hidden_size), bool(coords)
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        layers, c_in, size = [], 3 + 2 * self.coords, self.image_size
        for c, s in zip(channels, strides):
            layers += [nn.Conv2d(c_in, c, 3, stride=s, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            c_in, size = c, (size - 1) // s + 1
        self.cnn = nn.Sequential(*layers)
        self.feature_channels, self.feature_size = c_in, size
        self.memory_dim = c_in + 2 * self.coords  # feature vector [+ its cell's x, y]
        flat = c_in * size * size
        H = self.hidden_size
        self.init_h = nn.Linear(flat, H)
        if cell == "lstm":
            self.init_c = nn.Linear(flat, H)
        self.embedding = nn.Embedding(self.vocab_size, embed_dim, padding_idx=self.pad_id)
        D = self.memory_dim * self.attention
        self.rnn = getattr(nn, _CELLS[cell])(embed_dim + D, H, batch_first=True)
        if self.attention:
            self.attn = nn.AdditiveAttention(H, self.memory_dim, attention_dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(H + D, self.vocab_size)

    # ---- encoder ---------------------------------------------------------------------------
    def _check_images(self, images):
        s = self.image_size
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3 \
                or images.shape[2] != s or images.shape[3] != s:
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"Captioner: expected images (B, 3, {s}, {s}), got {got}")
        want = self.out.weight.dtype
        if images.dtype != want:
            raise TypeError(f"Captioner: expected images of the parameters' dtype {want}, got "
                            f"{images.dtype}")

    def encode(self, images):
        """(memory (features (B, S, D), their attention keys (B, S, A) or None), initial state);
        D = C (+ 2 with coords: the x, y of each feature cell in [-1, 1])."""
        self._check_images(images)
        B = images.shape[0]
        x = images
        if self.coords:
            x = cat([images, _raw(_coord_planes(B, self.image_size, self.image_size,
                                                images.dtype))], dim=1)
        f = self.cnn(x)  # (B, C, h, w)
        flat = f.reshape(B, -1)
        h0 = tanh(self.init_h(flat)).reshape(1, B, self.hidden_size)
        state = (h0, tanh(self.init_c(flat)).reshape(1, B, self.hidden_size)) \
            if self.cell == "lstm" else h0
        feats = f.reshape(B, self.feature_channels, -1).transpose(1, 2)  # (B, S, C)
        if self.coords:  # each memory vector also says where its cell is
            h = self.feature_size
            xy = _coord_planes(B, h, h, images.dtype).reshape(B, 2, h * h).transpose(0, 2, 1)
            feats = cat([feats, _raw(xy)], dim=-1)  # (B, S, C + 2)
        keys = self.attn.project_keys(feats) if self.attention else None
        return (feats, keys), state

    # ---- decoder ---------------------------------------------------------------------------
    def _query(self, state):
        return (state[0] if isinstance(state, tuple) else state)[-1]  # (B, H): s_{t-1}

    def _step(self, emb, state, memory):
        """One decoder step: emb (B, E) -> (output features (B, H [+ C]), state, weights)."""
        feats, keys = memory
        if not self.attention:
            o, state = self.rnn(emb.reshape(emb.shape[0], 1, emb.shape[1]), state)
            return o.reshape(o.shape[0], o.shape[2]), state, None
        ctx, w = self.attn(self._query(state), feats, feats, projected_key=keys)  # (B, C), (B, S)
        x = cat([emb, ctx], dim=-1)
        o, state = self.rnn(x.reshape(x.shape[0], 1, x.shape[1]), state)
        return cat([o.reshape(o.shape[0], o.shape[2]), ctx], dim=-1), state, w

    def _check_captions(self, captions, who):
        if not isinstance(captions, Tensor) or captions.ndim != 2 \
                or captions.dtype.kind not in "iu":
            got = (f"{tuple(captions.shape)} {captions.dtype}" if isinstance(captions, Tensor)
                   else type(captions).__name__)
            raise ValueError(f"Captioner.{who}: expected word ids int64 (B, T), got {got}")
        ids = captions.data
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"Captioner.{who}: word ids must be in [0, {self.vocab_size}), got "
                             f"[{ids.min()}, {ids.max()}]")

    def forward(self, images, captions_in, return_attention=False):
        """Teacher forcing: logits (B, T, V) of y_1..y_n <eos> given <bos> y_1..y_n (B, T)."""
        self._check_captions(captions_in, "forward")
        if captions_in.shape[0] != images.shape[0]:
            raise ValueError(f"Captioner: {images.shape[0]} images but {captions_in.shape[0]} "
                             f"captions")
        memory, state = self.encode(images)
        emb = self.embedding(captions_in)  # (B, T, E)
        weights = None
        if not self.attention:
            o, _ = self.rnn(emb, state)  # all steps in one fused call
        else:
            outs, ws = [], []
            for t in range(captions_in.shape[1]):
                o_t, state, w = self._step(emb[:, t], state, memory)
                outs.append(o_t)
                ws.append(w)
            o, weights = stack(outs, 1), stack(ws, 1)  # (B, T, H + C), (B, T, S)
        logits = self.out(self.drop(o))
        return (logits, weights) if return_attention else logits

    def loss(self, images, captions, return_logits=False):
        """Mean cross-entropy of y_1..y_n <eos> over the real tokens of captions (B, L) =
        <bos> y_1..y_n <eos> <pad>...; with ``return_logits`` also the logits (B, L-1, V)."""
        from ..nn import functional as F

        self._check_captions(captions, "loss")
        if captions.shape[1] < 2:
            raise ValueError(f"Captioner.loss: captions need <bos> and at least <eos>, got "
                             f"length {captions.shape[1]}")
        ids = captions.data
        logits = self(images, _raw(ids[:, :-1]))
        V = logits.shape[-1]
        loss = F.cross_entropy(logits.reshape(-1, V), _raw(ids[:, 1:].reshape(-1)),
                               ignore_index=self.pad_id)
        return (loss, logits) if return_logits else loss

    # ---- generation ------------------------------------------------------------------------
    def _log_probs(self, y, state, memory):
        """log p(next word) (N, V) in float64 after words y (N,), the new state, weights."""
        emb = self.embedding(_raw(np.asarray(y, dtype=np.int64)))
        o, state, w = self._step(emb, state, memory)
        z = self.out(o).data.astype(np.float64)
        m = z.max(-1, keepdims=True)
        logp = z - (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))
        return logp, state, (None if w is None else w.data)

    def _start(self, max_len):
        if int(max_len) < 1:
            raise ValueError(f"Captioner: max_len must be >= 1, got {max_len}")
        was = self.training
        self.eval()
        return was

    def _weights(self, rows):
        h = self.feature_size
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), h, h)

    def greedy_decode(self, images, max_len=20):
        """The most likely word at each step, until <eos> or max_len words.

        Returns (sequences, weights): sequences[b] the word ids of image b (<eos> not included);
        weights[b] float (len(sequences[b]), h, w), the attention of each word (None without
        attention).
        """
        was = self._start(max_len)
        try:
            with no_grad():
                memory, state = self.encode(images)
                B = images.shape[0]
                y = np.full(B, self.bos_id, dtype=np.int64)
                steps, attn = [], []
                done = np.zeros(B, dtype=bool)
                for _ in range(int(max_len)):
                    logp, state, w = self._log_probs(y, state, memory)
                    y = logp.argmax(-1)
                    steps.append(y)
                    attn.append(w)
                    done |= y == self.eos_id
                    if done.all():
                        break
        finally:
            self.train(was)
        tokens = np.stack(steps, 1).tolist()
        seqs, ws = [], []
        for b, row in enumerate(tokens):
            n = row.index(self.eos_id) if self.eos_id in row else len(row)
            seqs.append(row[:n])
            if self.attention:
                ws.append(self._weights([attn[t][b] for t in range(n)]))
        return seqs, (ws if self.attention else None)

    def beam_search(self, images, beam_width=3, max_len=20, length_penalty=0.0):
        """Keep the ``beam_width`` best partial captions at each step.

        A caption y_1..y_n is ranked by log p(y_1..y_n <eos>? | image) / m^length_penalty, m its
        number of words (with <eos> when finished). Each step extends every unfinished caption
        by each of its beam_width likeliest words (by <eos> it is finished); they compete with
        the finished ones and the best beam_width stay. An image's search stops when its best
        caption is finished, or after max_len words. beam_width 1 is greedy decoding.

        Returns (sequences, weights) as ``greedy_decode``.
        """
        K = int(beam_width)
        if K < 1:
            raise ValueError(f"Captioner.beam_search: beam_width must be >= 1, got {beam_width}")
        lp = float(length_penalty)
        was = self._start(max_len)
        try:
            with no_grad():
                memory, state = self.encode(images)
                B = images.shape[0]
                rep = np.repeat(np.arange(B), K)  # row b*K + k: slot k of image b's beam
                memory = tuple(None if m is None else _raw(m.data[rep]) for m in memory)
                state = self._map_state(state, rep)
                # a hypothesis: [score, tokens, weights, finished]
                beams = [[(0.0, [], [], False)] for _ in range(B)]
                done = np.zeros(B, dtype=bool)
                y = np.full(B * K, self.bos_id, dtype=np.int64)

                def rank(h):
                    return h[0] / max(1, len(h[1]) + h[3]) ** lp

                for _ in range(int(max_len)):
                    logp, state, w = self._log_probs(y, state, memory)
                    logp = logp.reshape(B, K, -1)
                    top = np.argsort(-logp, axis=-1, kind="stable")[:, :, :K]
                    parent = np.tile(np.arange(K), (B, 1))
                    for b in np.flatnonzero(~done):
                        cands = []
                        for k, h in enumerate(beams[b]):
                            if h[3]:
                                cands.append((h, k))
                                continue
                            for v in top[b, k].tolist():
                                fin = v == self.eos_id
                                wk = h[2] if fin or w is None else h[2] + [w[b * K + k]]
                                cands.append(((h[0] + logp[b, k, v],
                                               h[1] if fin else h[1] + [v], wk, fin), k))
                        cands.sort(key=lambda c: (rank(c[0]), c[0][0]), reverse=True)
                        beams[b] = [h for h, _ in cands[:K]]
                        parent[b, :len(beams[b])] = [k for _, k in cands[:K]]
                        done[b] = beams[b][0][3]
                    if done.all():
                        break
                    state = self._map_state(state, (np.arange(B)[:, None] * K + parent).ravel())
                    y = np.array([[h[1][-1] if h[1] and not h[3] else self.eos_id for h in bm]
                                  + [self.eos_id] * (K - len(bm)) for bm in beams],
                                 dtype=np.int64).ravel()
        finally:
            self.train(was)
        best = [max(bm, key=rank) for bm in beams]
        seqs = [h[1] for h in best]
        if not self.attention:
            return seqs, None
        return seqs, [self._weights(h[2]) for h in best]

    @staticmethod
    def _map_state(state, idx):
        if isinstance(state, tuple):
            return tuple(_raw(s.data[:, idx]) for s in state)
        return _raw(state.data[:, idx])

    def generate(self, images, max_len=20, beam_width=1, length_penalty=0.0):
        """Captions of images (B, 3, H, W): greedy when beam_width is 1, else beam search.
        Returns (sequences, weights) as ``greedy_decode``."""
        if int(beam_width) == 1:
            return self.greedy_decode(images, max_len)
        return self.beam_search(images, beam_width, max_len, length_penalty)

    def extra_repr(self):
        return (f"cell={self.cell!r}, attention={self.attention}, hidden_size={self.hidden_size}, "
                f"features={self.feature_channels}x{self.feature_size}x{self.feature_size}")
