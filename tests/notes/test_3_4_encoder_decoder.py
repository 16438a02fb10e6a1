"""Notes 3.4: the thought vector, sequence generation, the encoder-decoder for translation, and
attention over a memory of thought vectors.

    input -> thought vector h_t -> output;  h_t depends on h_{t-1}, so it summarizes the past
    translation: the encoding RNN's final state is the thought vector fed to the decoding RNN
    attention: a_j = softmax_j(score(q, h_j)),  c = sum_j a_j h_j (the combined thought vector)

Image captioning, VQA and the text-QA memory of 3.4 are built by other issues (6/7) and have no
tests here yet.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import CharRNN, Seq2Seq
from chainrule.ops import softmax

from ._common import close, t


def _softmax_masked(e, mask):
    e = np.where(mask, e, -np.inf)
    p = np.exp(e - e.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def _attention_inputs(seed=0):
    rng = np.random.default_rng(seed)
    B, L, S, E, Dv = 2, 3, 5, 4, 3
    q, k, v = (rng.standard_normal(s) for s in ((B, L, E), (B, S, E), (B, S, Dv)))
    mask = np.arange(S)[None, None, :] < np.array([5, 3])[:, None, None]      # lengths 5 and 3
    return q, k, v, np.broadcast_to(mask, (B, L, S)).copy()


def _scores(kind, layer, q, k):
    """The notes' matching score e_j of each query with each memory vector, in NumPy."""
    if kind == "dot":
        return q @ k.transpose(0, 2, 1)                                      # s^T h_j
    if kind == "scaled":
        return q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])              # s^T h_j / sqrt(E)
    a = q @ layer.query_proj.weight.numpy().T                                # W_q s
    b = k @ layer.key_proj.weight.numpy().T + layer.key_proj.bias.numpy()   # W_k h_j + b
    return np.tanh(a[:, :, None, :] + b[:, None, :, :]) @ layer.v.numpy()   # w^T tanh(.)


def _layer(kind):
    cr.manual_seed(0)
    return {"dot": nn.DotProductAttention, "scaled": nn.ScaledDotProductAttention}.get(
        kind, lambda: nn.AdditiveAttention(4, 4, 6))()


@pytest.mark.parametrize("kind", ["dot", "scaled", "additive"])
def test_attention_weights_are_a_softmax_over_scores(kind):
    """The layers' weights are softmax(e) over the real (unmasked) positions, 0 at the masked
    ones, and the context is sum_j a_j v_j; the gradients of the fused op equal chainrule's
    autograd of the same chain in elementary ops (scores, + log-mask, softmax, matmul)."""
    layer = _layer(kind)
    q0, k0, v0, mask = _attention_inputs()
    a = _softmax_masked(_scores(kind, layer, q0, k0), mask)
    q, k, v = t(q0, grad=True), t(k0, grad=True), t(v0, grad=True)
    ctx, w = layer(q, k, v, mask=cr.tensor(mask[:, 0, :]))
    close(w, a)
    assert (w.numpy()[1, :, 3:] == 0).all()
    close(w.numpy().sum(-1), np.ones((2, 3)))
    close(ctx, a @ v0)

    G = np.random.default_rng(1).standard_normal(ctx.shape)
    ctx.backward(t(G))
    fused = [x.grad.numpy() for x in (q, k, v)] + [p.grad.numpy() for p in layer.parameters()]
    layer.zero_grad()
    q, k, v = t(q0, grad=True), t(k0, grad=True), t(v0, grad=True)
    if kind == "additive":
        A = layer.query_proj(q).reshape(2, 3, 1, 6)
        Bk = layer.key_proj(k).reshape(2, 1, 5, 6)
        e = cr.tanh(A + Bk) @ layer.v
    else:
        e = q @ k.transpose(1, 2)
        if kind == "scaled":
            e = e / np.sqrt(4.0)
    weights = softmax(e + t(np.where(mask, 0.0, -np.inf)), dim=-1)
    (weights @ v).backward(t(G))
    unrolled = [x.grad.numpy() for x in (q, k, v)] + [p.grad.numpy() for p in layer.parameters()]
    for got, want in zip(fused, unrolled):
        close(got, want)


def _seq2seq_data(seed=0):
    rng = np.random.default_rng(seed)
    src = rng.integers(3, 9, (2, 5))
    src[1, 3:] = 0                                            # padding of the shorter source
    return cr.tensor(src), cr.tensor(np.array([5, 3])), cr.tensor(rng.integers(3, 7, (2, 4)))


def test_translation_decodes_from_the_thought_vector():
    """Without attention, Seq2Seq's logits are the decoding RNN started from the thought vector:
    the encoding RNN's state after the last real token of each source (run here one source at a
    time, without padding), then softmax(W_o s_t + b_o); padding changes nothing."""
    cr.manual_seed(0)
    model = Seq2Seq(9, 7, embed_dim=5, hidden_size=4, cell="gru")
    src, lengths, tgt = _seq2seq_data()
    logits = model(src, lengths, tgt)
    for b, n in enumerate([5, 3]):
        _, thought = model.encoder(model.src_embed(cr.tensor(src.numpy()[b:b + 1, :n])))
        s, _ = model.decoder(model.tgt_embed(cr.tensor(tgt.numpy()[b:b + 1])), thought)
        close(logits.numpy()[b], model.out(s).numpy()[0])
    other = src.numpy().copy()
    other[1, 3:] = 5                                          # different tokens in the padding
    close(model(cr.tensor(other), lengths, tgt), logits)


def test_attention_decoder_reads_a_weighted_sum_of_the_source_states():
    """With dot attention, each decoder state s_t gets a_tj = softmax_j(s_t^T h_j) over the real
    source positions, c_t = sum_j a_tj h_j, and the logits W_o tanh(W_c [s_t; c_t] + b_c) + b_o."""
    cr.manual_seed(1)
    model = Seq2Seq(9, 7, embed_dim=5, hidden_size=4, cell="lstm", attention="dot")
    src, lengths, tgt = _seq2seq_data(1)
    logits, w = model(src, lengths, tgt, return_attention=True)
    memory, state = model.encode(src, lengths)
    s, _ = model.decoder(model.tgt_embed(tgt), state)
    h, s = memory.values.numpy(), s.numpy()
    mask = np.arange(5)[None, None, :] < np.array([5, 3])[:, None, None]
    a = _softmax_masked(s @ h.transpose(0, 2, 1), mask)
    close(w, a)
    c = a @ h
    Wc, bc = model.combine.weight.numpy(), model.combine.bias.numpy()
    s_tilde = np.tanh(np.concatenate([s, c], axis=-1) @ Wc.T + bc)
    close(logits, s_tilde @ model.out.weight.numpy().T + model.out.bias.numpy())


def test_sequence_generation_state_summarizes_the_past():
    """Figure 18: x_t the current letter, y_t the next one. The logits at step t depend on
    x_1..x_t only, and running the text in two pieces, passing the state h_t across, is the same
    as one pass: h_t carries everything the model keeps of the past."""
    cr.manual_seed(2)
    model = CharRNN(11, embed_dim=5, hidden_size=6, cell="lstm")
    rng = np.random.default_rng(2)
    x = rng.integers(0, 11, (2, 8))
    full, _ = model(cr.tensor(x))
    y = x.copy()
    y[:, 5:] = (y[:, 5:] + 1) % 11                            # change the future only
    changed, _ = model(cr.tensor(y))
    close(changed.numpy()[:, :5], full.numpy()[:, :5])
    assert not np.allclose(changed.numpy()[:, 5:], full.numpy()[:, 5:])
    first, state = model(cr.tensor(x[:, :3]))
    second, _ = model(cr.tensor(x[:, 3:]), state)
    close(np.concatenate([first.numpy(), second.numpy()], axis=1), full)
    p = softmax(full, dim=-1).numpy()                          # next-letter distributions
    close(p.sum(-1), np.ones((2, 8)))
