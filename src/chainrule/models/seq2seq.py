"""The encoder-decoder of the notes (3.4, Figure 19: machine translation), with optional attention.

The encoding RNN reads the source x_1..x_S into hidden vectors h_1..h_S; its final state is the
thought vector, which initializes the decoding RNN; the decoder then writes the target one token
at a time, each step reading the previous token y_{t-1} and predicting y_t:

    h_j = Enc(E_src[x_j], h_{j-1}),     s_0 = thought vector (h_S; with a bidirectional encoder,
                                         tanh(W_b [h_S->; h_1<-]) so it has the decoder's size)
    s_t = Dec(E_tgt[y_{t-1}], s_{t-1}),  p(y_t | y_<t, x) = softmax(W_o s_t + b_o).

With attention (notes 3.4, memory and attention) the h_j are a memory that each decoder state s_t
queries: a_tj = softmax_j(score(s_t, h_j)) over the real source positions (padding is masked),
c_t = sum_j a_tj h_j is the context, and

    s~_t = tanh(W_c [s_t; c_t] + b_c),   p(y_t | y_<t, x) = softmax(W_o s~_t + b_o),

with score = w^T tanh(W_q s + W_k h) ('additive', Bahdanau et al.) or s^T h ('dot', Luong et al.;
'scaled_dot' divides by sqrt(H)). The decoder state queries the memory after its step (Luong et
al.'s arrangement), so under teacher forcing the whole target runs through the decoder RNN in one
fused call and the attention of all steps is one more.

Training uses teacher forcing: ``forward(src, src_lengths, tgt_in)`` reads the true previous
tokens (<bos> y_1 .. y_n) and returns the logits of (y_1 .. y_n <eos>), for a cross-entropy with
``ignore_index`` = the padding id. Generation: ``greedy_decode`` (argmax at each step) and
``beam_search`` (keep the beam_width best partial outputs).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..ops import cat, tanh
from ..ops.attention import length_mask
from ..tensor import Tensor

_CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_ATTENTION = (None, "additive", "dot", "scaled_dot")


class Memory(NamedTuple):
    """What the decoder reads of the source: the encoder outputs (values), their keys for the
    attention score (projected once per source), and the bool mask of real positions."""

    values: Tensor  # (B, S, D_enc)
    keys: Optional[Tensor]  # (B, S, H), or None without attention
    mask: Optional[Tensor]  # (B, S) bool, or None when no padding


class _Hypothesis(NamedTuple):
    """A partial (or, with <eos>, finished) output of beam search."""

    score: float  # log p(tokens [, <eos>] | source)
    tokens: list  # generated ids, <eos> not included
    weights: list  # one attention row (S,) per token
    finished: bool

    def norm(self, length_penalty):
        """The ranking score: log p / n^length_penalty, n the number of tokens with <eos>."""
        return self.score / (len(self.tokens) + self.finished) ** length_penalty


def _size(vocab, who):
    n = vocab if isinstance(vocab, (int, np.integer)) else len(vocab)
    if n < 1:
        raise ValueError(f"Seq2Seq: {who} must have at least one token, got {n}")
    return int(n)


def _map_state(state, fn):
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _rows(t, idx):
    """Batch rows ``idx`` of a raw (no-grad) tensor whose batch axis is 0 (or 1 for states)."""
    return None if t is None else Tensor._make(t.data[idx], False, None, 0)


class Seq2Seq(nn.Module):
    """Encoder RNN -> thought vector -> decoder RNN, optionally with attention over the source.

    Args:
        src_vocab, tgt_vocab: the vocabularies (``Vocabulary``, or their sizes as ints).
        embed_dim: size of the token embeddings.
        hidden_size: H, the size of the encoder's and decoder's states.
        cell: 'gru', 'lstm' or 'rnn'.
        attention: None (the thought vector only), 'additive', 'dot' or 'scaled_dot'.
        num_layers: layers of both RNNs (the decoder's layer l starts from the encoder's layer l).
        bidirectional_encoder: read the source both ways; the encoder outputs are then 2H wide
            and the two final states of each layer are merged by tanh(W_b [h->; h<-] + b_b).
        pad_idx: the padding id of both vocabularies (its embedding is fixed at zero).

    Shapes (batch first): src int64 (B, S) padded, src_lengths int64 (B,), tgt_in int64 (B, T)
    -> logits (B, T, V_tgt); with ``return_attention=True`` also the weights (B, T, S).

    Example::

        >>> model = Seq2Seq(ds.src_vocab, ds.tgt_vocab, 32, 128, attention="additive")
        >>> b = ds.collate(ds.pairs[:64])
        >>> logits = model(b.src, b.src_lengths, b.tgt_in)
        >>> loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b.tgt_out.reshape(-1),
        ...                        ignore_index=ds.tgt_vocab.pad_id)
        >>> seqs, weights = model.greedy_decode(b.src, b.src_lengths, 12, bos, eos)
    """

    def __init__(self, src_vocab, tgt_vocab, embed_dim=64, hidden_size=128, cell="gru",
                 attention=None, num_layers=1, bidirectional_encoder=False, pad_idx=0):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {list(_CELLS)}, got {cell!r}")
        if attention not in _ATTENTION:
            raise ValueError(f"Seq2Seq: attention must be one of {list(_ATTENTION)}, got "
                             f"{attention!r}")
        self.src_size, self.tgt_size = _size(src_vocab, "src_vocab"), _size(tgt_vocab, "tgt_vocab")
        self.embed_dim, self.hidden_size, self.cell = embed_dim, hidden_size, cell
        self.attention_kind, self.num_layers = attention, num_layers
        self.bidirectional_encoder = bool(bidirectional_encoder)
        H = hidden_size
        enc_dim = 2 * H if bidirectional_encoder else H
        rnn_cls = getattr(nn, _CELLS[cell])
        self.src_embed = nn.Embedding(self.src_size, embed_dim, padding_idx=pad_idx)
        self.encoder = rnn_cls(embed_dim, H, num_layers=num_layers, batch_first=True,
                               bidirectional=self.bidirectional_encoder)
        if self.bidirectional_encoder:
            self.bridge = nn.Linear(2 * H, H)
            if cell == "lstm":
                self.bridge_c = nn.Linear(2 * H, H)
        self.tgt_embed = nn.Embedding(self.tgt_size, embed_dim, padding_idx=pad_idx)
        self.decoder = rnn_cls(embed_dim, H, num_layers=num_layers, batch_first=True)
        if attention == "additive":
            self.attn = nn.AdditiveAttention(H, enc_dim, H)
        elif attention is not None:
            self.attn = (nn.DotProductAttention() if attention == "dot"
                         else nn.ScaledDotProductAttention())
            if enc_dim != H:
                self.key_proj = nn.Linear(enc_dim, H, bias=False)  # keys in the query's space
        if attention is not None:
            self.combine = nn.Linear(H + enc_dim, H)
        self.out = nn.Linear(H, self.tgt_size)

    # ---- encoder ---------------------------------------------------------------------------
    def encode(self, src, src_lengths=None):
        """Read the source: (Memory for the decoder, the decoder's initial state s_0)."""
        if not isinstance(src, Tensor) or src.ndim != 2 or src.dtype.kind not in "iu":
            got = f"{tuple(src.shape)} {src.dtype}" if isinstance(src, Tensor) else \
                type(src).__name__
            raise ValueError(f"Seq2Seq: expected src ids int64 (B, S), got {got}")
        outputs, state = self.encoder(self.src_embed(src), None, lengths=src_lengths)
        if self.bidirectional_encoder:
            state = _map_state(state, self._merge_directions)
            if isinstance(state, tuple):  # (h, c): c has its own bridge
                h, c = state
                state = (tanh(self.bridge(h)), tanh(self.bridge_c(c)))
            else:
                state = tanh(self.bridge(state))
        mask = None
        if src_lengths is not None:
            n = src_lengths.data if isinstance(src_lengths, Tensor) else np.asarray(src_lengths)
            if bool((n < src.shape[1]).any()):
                mask = length_mask(n, src.shape[1])
        keys = None
        if self.attention_kind == "additive":
            keys = self.attn.project_keys(outputs)
        elif self.attention_kind is not None:
            keys = self.key_proj(outputs) if hasattr(self, "key_proj") else outputs
        return Memory(outputs, keys, mask), state

    def _merge_directions(self, h):
        """(num_layers * 2, B, H) -> (num_layers, B, 2H): each layer's [forward; backward]."""
        L, B, H = self.num_layers, h.shape[1], self.hidden_size
        h = h.reshape(L, 2, B, H)
        return cat([h[:, 0], h[:, 1]], dim=-1)

    # ---- decoder ---------------------------------------------------------------------------
    def decode(self, tgt_in, state, memory):
        """Run the decoder over tgt_in (B, T) from ``state``: (logits (B, T, V), state, weights
        (B, T, S) or None)."""
        s, state = self.decoder(self.tgt_embed(tgt_in), state)  # (B, T, H)
        if self.attention_kind is None:
            return self.out(s), state, None
        if self.attention_kind == "additive":
            ctx, w = self.attn(s, memory.values, memory.values, mask=memory.mask,
                               projected_key=memory.keys)
        else:
            ctx, w = self.attn(s, memory.keys, memory.values, mask=memory.mask)
        s_tilde = tanh(self.combine(cat([s, ctx], dim=-1)))  # (B, T, H)
        return self.out(s_tilde), state, w

    def forward(self, src, src_lengths, tgt_in, return_attention=False):
        """Teacher forcing: logits (B, T, V_tgt) of y_1..y_n <eos> given <bos> y_1..y_n."""
        memory, state = self.encode(src, src_lengths)
        logits, _, w = self.decode(tgt_in, state, memory)
        return (logits, w) if return_attention else logits

    # ---- generation ------------------------------------------------------------------------
    def _generation_mode(self):
        was = self.training
        self.eval()
        return was

    def _source_lengths(self, src, src_lengths):
        if src_lengths is None:
            return [src.shape[1]] * src.shape[0]
        n = src_lengths.data if isinstance(src_lengths, Tensor) else np.asarray(src_lengths)
        return [int(i) for i in n]

    def greedy_decode(self, src, src_lengths, max_len, bos, eos):
        """Decode by taking the most likely token at each step, until <eos> or max_len tokens.

        Returns:
            (sequences, weights): sequences[b] is the list of ids generated for source b (<eos>
            not included); weights[b] the attention weights (len(sequences[b]), S_b) as a NumPy
            array, row i the distribution over the source that produced token i (None without
            attention).
        """
        if max_len < 1:
            raise ValueError(f"Seq2Seq.greedy_decode: max_len must be >= 1, got {max_len}")
        was = self._generation_mode()
        try:
            with no_grad():
                memory, state = self.encode(src, src_lengths)
                B = src.shape[0]
                y = np.full((B, 1), bos, dtype=np.int64)
                steps, attn = [], []
                done = np.zeros(B, dtype=bool)
                for _ in range(max_len):
                    logits, state, w = self.decode(Tensor._make(y, False, None, 0), state, memory)
                    y = logits.data[:, -1].argmax(-1)[:, None]
                    steps.append(y[:, 0])
                    if w is not None:
                        attn.append(w.data[:, -1])
                    done |= y[:, 0] == eos
                    if done.all():
                        break
        finally:
            self.train(was)
        tokens = np.stack(steps, 1)  # (B, steps)
        weights = np.stack(attn, 1) if attn else None  # (B, steps, S)
        return self._finish(tokens, weights, eos, self._source_lengths(src, src_lengths))

    @staticmethod
    def _finish(tokens, weights, eos, src_lengths):
        seqs, ws = [], []
        for b, row in enumerate(tokens.tolist()):
            n = row.index(eos) if eos in row else len(row)
            seqs.append(row[:n])
            if weights is not None:
                ws.append(weights[b, :n, :src_lengths[b]])
        return seqs, (ws if weights is not None else None)

    def beam_search(self, src, src_lengths, beam_width=5, max_len=50, bos=1, eos=2,
                    length_penalty=1.0):
        """Decode keeping the ``beam_width`` best hypotheses (partial outputs) at each step.

        A hypothesis y_1..y_n is ranked by log p(y_1..y_n | x) / n^length_penalty (n counts the
        <eos> of a finished one; 0 ranks by total log-probability, larger favours longer
        outputs). At each step every unfinished hypothesis is extended by each token (by <eos> it
        becomes finished); the extensions and the finished hypotheses already in the beam compete,
        and the beam_width best form the new beam. The search of a source stops when the best
        hypothesis of its beam is finished, or after max_len tokens (then the best of the beam
        wins). With length_penalty 0 the first stop is exact: every unfinished hypothesis has a
        lower log-probability, which can only fall as it grows. With beam_width 1 this is greedy
        decoding.

        Returns:
            (sequences, weights) as ``greedy_decode``: the best hypothesis of each source.
        """
        if beam_width < 1 or max_len < 1:
            raise ValueError(f"Seq2Seq.beam_search: beam_width and max_len must be >= 1, got "
                             f"{beam_width} and {max_len}")
        was = self._generation_mode()
        try:
            with no_grad():
                best = self._beam_search(src, src_lengths, int(beam_width), max_len, bos, eos,
                                         float(length_penalty))
        finally:
            self.train(was)
        lengths = self._source_lengths(src, src_lengths)
        seqs = [h.tokens for h in best]
        if self.attention_kind is None:
            return seqs, None
        S = src.shape[1]
        return seqs, [np.array(h.weights).reshape(len(h.tokens), S)[:, :lengths[b]]
                      for b, h in enumerate(best)]

    def _beam_search(self, src, src_lengths, K, max_len, bos, eos, lp):
        memory, state = self.encode(src, src_lengths)
        B = src.shape[0]
        rep = np.repeat(np.arange(B), K)  # model row b*K + k holds slot k of source b's beam
        memory = Memory(*(_rows(t, rep) for t in memory))
        state = _map_state(state, lambda h: Tensor._make(h.data[:, rep], False, None, 0))
        beams = [[_Hypothesis(0.0, [], [], False)] for _ in range(B)]  # <bos> alone at first
        done = np.zeros(B, dtype=bool)
        y = np.full((B * K, 1), bos, dtype=np.int64)
        for _ in range(max_len):
            logits, state, w = self.decode(Tensor._make(y, False, None, 0), state, memory)
            z = logits.data[:, -1].astype(np.float64)  # log p in float64: no ties made by rounding
            m = z.max(-1, keepdims=True)
            logp = (z - (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))).reshape(B, K, -1)
            best_tokens = np.argsort(-logp, axis=-1, kind="stable")[:, :, :K]
            w_step = None if w is None else w.data[:, -1].reshape(B, K, -1)
            parent = np.tile(np.arange(K), (B, 1))
            for b in np.flatnonzero(~done):
                cands = []  # (rank key, hypothesis, slot it grows from)
                for k, h in enumerate(beams[b]):
                    if h.finished:
                        cands.append(((h.norm(lp), h.score), h, k))
                        continue
                    for v in best_tokens[b, k].tolist():
                        sc = h.score + logp[b, k, v]
                        fin = v == eos
                        grown = _Hypothesis(sc, h.tokens if fin else h.tokens + [v],
                                            h.weights if fin or w_step is None
                                            else h.weights + [w_step[b, k]], fin)
                        cands.append(((grown.norm(lp), sc), grown, k))
                cands.sort(key=lambda c: c[0], reverse=True)  # stable: ties keep their order
                beams[b] = [h for _, h, _ in cands[:K]]
                parent[b, :len(beams[b])] = [k for _, _, k in cands[:K]]
                done[b] = beams[b][0].finished
            if done.all():
                break
            flat = (np.arange(B)[:, None] * K + parent).reshape(-1)
            state = _map_state(state, lambda h: Tensor._make(h.data[:, flat], False, None, 0))
            y = np.array([[h.tokens[-1] if h.tokens and not h.finished else eos
                           for h in bm] + [eos] * (K - len(bm)) for bm in beams],
                         dtype=np.int64).reshape(B * K, 1)
        return [max(bm, key=lambda h: h.norm(lp)) for bm in beams]

    def extra_repr(self):
        return (f"cell={self.cell!r}, attention={self.attention_kind!r}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional_encoder={self.bidirectional_encoder}")
