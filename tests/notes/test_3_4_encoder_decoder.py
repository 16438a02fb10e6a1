"""Notes 3.4: the thought vector, sequence generation, the encoder-decoder for translation, and
attention over a memory of thought vectors.

    input -> thought vector h_t -> output;  h_t depends on h_{t-1}, so it summarizes the past
    translation: the encoding RNN's final state is the thought vector fed to the decoding RNN
    attention: a_j = softmax_j(score(q, h_j)),  c = sum_j a_j h_j (the combined thought vector)
    captioning: a CNN layer is the thought vector that starts the decoding RNN
    VQA: the image and question thought vectors are concatenated and decoded into the answer

The text-QA memory of 3.4 (models.MemoryQA) has no test here yet.
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


def test_captioning_cnn_layer_is_the_thought_vector_that_starts_the_decoder():
    """Image captioning (no attention): the CNN's last feature map f is the thought vector; the
    decoding RNN starts from s_0 = tanh(W_h f + b_h) (c_0 = tanh(W_c f + b_c)), and the logits are
    W_o s_t + b_o. Two images with equal features get equal logits and captions; an image whose
    features differ gets other logits."""
    from chainrule.models import Captioner

    cr.manual_seed(3)
    model = Captioner(7, image_size=8, channels=(3, 4), embed_dim=4, hidden_size=5,
                      cell="lstm").eval()
    with cr.no_grad():
        model.cnn[0].weight.data[:, 2] = 0.0                 # the CNN ignores the blue channel
    rng = np.random.default_rng(3)
    img = rng.random((2, 3, 8, 8))
    caps = cr.tensor(rng.integers(1, 7, (2, 5)))
    feats = []
    handle = model.cnn.register_forward_hook(lambda m, a, out: feats.append(out.numpy()))
    logits = model(t(img), caps)
    handle.remove()
    f = feats[0].reshape(2, -1)                              # the thought vector
    s0 = np.tanh(f @ model.init_h.weight.numpy().T + model.init_h.bias.numpy())
    c0 = np.tanh(f @ model.init_c.weight.numpy().T + model.init_c.bias.numpy())
    s, _ = model.rnn(model.embedding(caps), (t(s0[None]), t(c0[None])))
    close(logits, model.out(s))

    blue = img.copy()
    blue[:, 2] = rng.random((2, 8, 8))                       # other pixels, the same features
    close(model(t(blue), caps), logits)
    assert model.greedy_decode(t(blue), 6)[0] == model.greedy_decode(t(img), 6)[0]
    red = img.copy()
    red[:, 0] = rng.random((2, 8, 8))                        # other features
    assert np.abs(model(t(red), caps).numpy() - logits.numpy()).max() > 1e-6


def test_vqa_decodes_the_concatenated_image_and_question_thought_vectors():
    """VQA (fusion='concat'): v = relu(W_v vec(CNN(image)) + b_v), u = the question RNN's state
    after its last real word, and the answer scores are MLP([v; u])."""
    from chainrule.models import VQANet

    cr.manual_seed(4)
    model = VQANet(6, 4, image_size=8, channels=(3, 3), image_dim=5, embed_dim=3,
                   question_dim=4, hidden=(6,), rnn="gru", fusion="concat").eval()
    rng = np.random.default_rng(4)
    images = t(rng.random((2, 3, 8, 8)))
    q = rng.integers(1, 6, (2, 4))
    q[1, 2:] = 0                                             # the second question has 2 words
    scores = model(images, cr.tensor(q), cr.tensor(np.array([4, 2])))

    f = model.cnn(images).numpy().reshape(2, -1)
    v = np.maximum(f @ model.image_fc.weight.numpy().T + model.image_fc.bias.numpy(), 0)
    u = np.stack([model.rnn(model.embedding(cr.tensor(q[b:b + 1, :n])))[1].numpy()[-1, 0]
                  for b, n in enumerate([4, 2])])
    z = np.concatenate([v, u], 1)                            # [image vector; question vector]
    first, last = model.decoder[0], model.decoder[2]
    a = np.maximum(z @ first.weight.numpy().T + first.bias.numpy(), 0)
    close(scores, a @ last.weight.numpy().T + last.bias.numpy())
