"""Question answering over a memory of sentence thought vectors (notes 3.4: memory with attention).

An end-to-end memory network (Sukhbaatar et al., 2015), facts only, with adjacent weight tying.
Story x_1..x_S (sentences of words, oldest first), question q, K hops:

    sentence thought vectors, hop k (E_k: word embedding (V, d), T_k: temporal embedding (M, d))
        m_i^k = sum_j l_j * E_k[x_ij] + T_k[t_i]       (the memory the question reads)
        c_i^k = m_i^{k+1}                               (its output vectors: the next hop's memory)
    position encoding    l_kj = (1 - j/J) - (k/d) (1 - 2j/J)   (j = 1..J words, k = 1..d dims)
    temporal index       t_i = n - 1 - i                  (0 for the newest of the n real sentences)
    question             u^1 = sum_j l_j * E_1[q_j]
    hop k = 1..K         p^k = softmax_i(u^k . m_i^k)    (padding sentences masked: p_i = 0)
                         u^{k+1} = u^k + sum_i p_i^k c_i^k
    answer logits        a = W u^{K+1} + b              (W: (V_answer, d))

Padded words (id ``pad_id``) count neither in J nor in the sum; a sentence is padding when all its
words are. ``forward`` returns the logits (B, V_answer); the attention of each hop of the last
call is kept in ``model.attention`` (a list of K NumPy arrays (B, S)) for plotting.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..ops import attend
from ..tensor import Tensor


def position_encoding(ids, pad_id, dim, dtype=np.float32):
    """The weights l (..., W, dim) of the words of ``ids`` (..., W): l_kj as in the module
    docstring for the real words of each row (J = their number), 0 for padding words."""
    ids = np.asarray(ids)
    real = ids != pad_id
    J = np.maximum(real.sum(-1, keepdims=True), 1).astype(np.float64)  # (..., 1)
    j = np.cumsum(real, axis=-1).astype(np.float64)  # 1-based index of each real word
    k = np.arange(1, dim + 1, dtype=np.float64) / dim  # (dim,)
    jj = (j / J)[..., None]  # (..., W, 1)
    l = (1.0 - jj) - k * (1.0 - 2.0 * jj)
    return (l * real[..., None]).astype(dtype)


class MemoryQA(nn.Module):
    """An end-to-end memory network (facts only) answering a question about a story.

    Args:
        vocab_size: V, the words of stories and questions (ids in [0, V)).
        embed_dim: d, the size of the thought vectors (default 32).
        hops: K, the number of memory reads (default 3); K + 1 word and temporal embeddings
            (adjacent tying: hop k's output embedding is hop k+1's input embedding).
        max_sentences: M, the most sentences a story may have (the rows of the temporal
            embeddings; default 50).
        answer_size: the answer classes (default V: answers are words).
        pad_id: the padding word id (default 0).
        init_std: the std of the N(0, std^2) draw of the embeddings (default 0.1, as the paper).
        position_encoding: weight the words by l_kj (default True; False sums them: bag of words).
        temporal_encoding: add T_k[t_i] to the memories (default True).

    Shape: story (B, S, W) and question (B, Wq) int64 -> logits (B, answer_size). ``forward``
    also takes one pair ``(story, question)`` (the inputs of ``train.fit``'s loop).
    """

    def __init__(self, vocab_size, embed_dim=32, hops=3, max_sentences=50, answer_size=None,
                 pad_id=0, init_std=0.1, position_encoding=True, temporal_encoding=True):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hops", hops),
                        ("max_sentences", max_sentences)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"MemoryQA: {name} must be a positive int, got {v!r}")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"MemoryQA: pad_id must be in [0, {vocab_size}), got {pad_id}")
        self.vocab_size, self.embed_dim, self.hops = int(vocab_size), int(embed_dim), int(hops)
        self.max_sentences, self.pad_id = int(max_sentences), int(pad_id)
        self.answer_size = self.vocab_size if answer_size is None else int(answer_size)
        self.use_position, self.use_temporal = bool(position_encoding), bool(temporal_encoding)
        self.embeddings = nn.ModuleList(
            [nn.Embedding(self.vocab_size, self.embed_dim, padding_idx=self.pad_id)
             for _ in range(self.hops + 1)])
        self.temporal = nn.ModuleList(
            [nn.Embedding(self.max_sentences, self.embed_dim) for _ in range(self.hops + 1)])
        for emb in list(self.embeddings) + list(self.temporal):
            nn.init.normal_(emb.weight, 0.0, init_std)
        for emb in self.embeddings:
            emb.weight.data[self.pad_id] = 0
        self.out = nn.Linear(self.embed_dim, self.answer_size)
        self.attention = []

    def _weights(self, ids, dtype):
        if self.use_position:
            l = position_encoding(ids, self.pad_id, self.embed_dim, dtype)
        else:
            l = np.broadcast_to((ids != self.pad_id)[..., None], ids.shape + (self.embed_dim,))
            l = l.astype(dtype)
        return Tensor._make(l, False, None, 0)

    def _encode(self, k, ids, weights, temporal_ids):
        """sum_j l_j * E_k[ids_j] (+ T_k[t]): (..., W) -> (..., d)."""
        v = (self.embeddings[k](ids) * weights).sum(-2)
        if temporal_ids is not None:
            v = v + self.temporal[k](temporal_ids)
        return v

    def forward(self, story, question=None):
        if question is None:
            if not isinstance(story, (tuple, list)) or len(story) < 2:
                raise TypeError(f"MemoryQA: expected story and question, or one (story, "
                                f"question) pair, got {type(story).__name__}")
            story, question = story[0], story[1]
        s = np.asarray(story.data if isinstance(story, Tensor) else story)
        q = np.asarray(question.data if isinstance(question, Tensor) else question)
        if s.ndim != 3 or q.ndim != 2 or s.shape[0] != q.shape[0] or s.dtype.kind not in "iu" \
                or q.dtype.kind not in "iu":
            raise ValueError(f"MemoryQA: expected story (B, S, W) and question (B, Wq) of "
                             f"integer ids with one B, got {s.shape} {s.dtype} and {q.shape} "
                             f"{q.dtype}")
        B, S, _ = s.shape
        if S > self.max_sentences:
            raise ValueError(f"MemoryQA: the story has {S} sentences, more than "
                             f"max_sentences={self.max_sentences}")
        s_ids = Tensor._make(s.astype(np.int64), False, None, 0)
        q_ids = Tensor._make(q.astype(np.int64), False, None, 0)
        dtype = self.out.weight.data.dtype
        real = (s != self.pad_id).any(-1)  # (B, S) real sentences
        n = real.sum(-1, keepdims=True)  # (B, 1)
        t = None
        if self.use_temporal:  # newest real sentence 0, the one before 1, ...; padding 0
            t_np = np.where(real, n - 1 - np.arange(S)[None, :], 0).clip(0)
            t = Tensor._make(t_np.astype(np.int64), False, None, 0)
        ws = self._weights(s, dtype)
        memories = [self._encode(k, s_ids, ws, t) for k in range(self.hops + 1)]  # (B, S, d)
        u = self._encode(0, q_ids, self._weights(q, dtype), None)  # (B, d)
        mask = Tensor._make(real[:, None, :], False, None, 0)  # (B, 1, S)
        self.attention = []
        for k in range(self.hops):
            scores = u.unsqueeze(1) @ memories[k].transpose(1, 2)  # (B, 1, S)
            o, p = attend(scores, memories[k + 1], mask)  # (B, 1, d), (B, 1, S)
            self.attention.append(p.data[:, 0, :].copy())
            u = u + o.squeeze(1)
        return self.out(u)

    def extra_repr(self):
        return (f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, hops={self.hops}, "
                f"max_sentences={self.max_sentences}, answer_size={self.answer_size}")
