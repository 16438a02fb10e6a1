"""Visual question answering with two thought vectors (notes 3.4).

    image (B, 3, H, W) [+ 2 coordinate channels x, y in [-1, 1] with coords=True]
                       -> CNN: n x [Conv2d 3x3 stride 2 -> BatchNorm2d -> ReLU] -> flatten
                       -> Linear -> ReLU: the image thought vector v (B, image_dim)
    question tokens (B, L) with lengths (B,) -> Embedding -> LSTM/GRU -> last real state h
                       (B, question_dim): the question thought vector
        (or, with question_encoder='code', the 11-number Sort-of-CLEVR code -> Linear -> ReLU)
    [v ; h] (B, image_dim + question_dim) -> MLP (Linear -> ReLU)* -> Linear -> logits
                       (B, num_answers)

fusion='concat' joins the two thought vectors only at the MLP (notes 3.4; Santoro et al.'s
CNN+MLP baseline). The MLP must then AND "the question names red" with "a red object is on the
left" out of one flattened feature vector, which it learns very slowly (on ShapesWorld 32x32 it
stays near chance on left/top questions for thousands of steps). fusion='film' also lets the
question modulate every conv block (FiLM, Perez et al. 2018):

    f_k = ReLU(BN(conv_k(f_{k-1})) * (1 + gamma_k) + beta_k),   f_0 = the image,
    [gamma_k ; beta_k] = Linear_k(h)  (B, 2 C_k), broadcast over the H_k x W_k positions,

so the CNN can keep the features of the object the question names, and the flattened map says
where that object is and what it looks like.

The question RNN is given the lengths, so padding never reaches the final state.
``forward(images, questions, lengths=None, codes=None)`` also takes one tuple
``(images, questions, lengths, codes)`` (the inputs of ``train.fit``'s loop).
"""
from __future__ import annotations

import numpy as np

from .. import backend, nn
from ..ops import cat
from ..tensor import Tensor


class VQANet(nn.Module):
    """CNN image encoder + RNN (or code MLP) question encoder + MLP answer decoder.

    Args:
        vocab_size: words of the questions (ids in [0, V)); unused with question_encoder='code'.
        num_answers: the answer classes.
        image_size: H = W of the input images (default 64).
        channels: output channels of each stride-2 conv block (default (24, 24, 24, 24)).
        image_dim: size of the image thought vector (default 128).
        embed_dim: word embedding size (default 32).
        question_dim: size of the question thought vector (the RNN's hidden size; default 64).
        hidden: sizes of the decoder's hidden layers (default (256, 256)).
        question_encoder: 'rnn' (tokens through the RNN) or 'code' (the question code through
            a Linear + ReLU).
        rnn: 'lstm' or 'gru'.
        code_size: length of the question code (default 11).
        pad_id: the padding word id (default 0).
        coords: append two channels, x and y in [-1, 1], to the image (default False).
        fusion: 'concat' (the thought vectors meet only at the MLP) or 'film' (the question
            vector also scales and shifts every conv block's channels; see the module).
    """

    def __init__(self, vocab_size, num_answers, image_size=64, channels=(24, 24, 24, 24),
                 image_dim=128, embed_dim=32, question_dim=64, hidden=(256, 256),
                 question_encoder="rnn", rnn="lstm", code_size=11, pad_id=0, coords=False,
                 fusion="concat"):
        super().__init__()
        if question_encoder not in ("rnn", "code"):
            raise ValueError(f"VQANet: question_encoder must be 'rnn' or 'code', got "
                             f"{question_encoder!r}")
        if rnn not in ("lstm", "gru"):
            raise ValueError(f"VQANet: rnn must be 'lstm' or 'gru', got {rnn!r}")
        if fusion not in ("concat", "film"):
            raise ValueError(f"VQANet: fusion must be 'concat' or 'film', got {fusion!r}")
        channels = tuple(int(c) for c in channels)
        if not channels:
            raise ValueError("VQANet: channels needs at least one conv block, got ()")
        size = int(image_size)
        self.coords, self.fusion = bool(coords), fusion
        layers, c_in = [], 3 + 2 * self.coords
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            c_in, size = c, (size + 1) // 2
        if size < 1:
            raise ValueError(f"VQANet: {len(channels)} stride-2 blocks leave no pixels of a "
                             f"{image_size}x{image_size} image")
        self.image_size, self.question_encoder = int(image_size), question_encoder
        self.rnn_kind, self.pad_id = rnn, int(pad_id)
        self.code_size, self.num_answers = int(code_size), int(num_answers)
        self.cnn = nn.Sequential(*layers)
        if fusion == "film":  # one (gamma, beta) Linear per conv block
            self.film = nn.ModuleList([nn.Linear(question_dim, 2 * c) for c in channels])
        self.image_fc = nn.Linear(c_in * size * size, image_dim)
        if question_encoder == "rnn":
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=self.pad_id)
            cls = nn.LSTM if rnn == "lstm" else nn.GRU
            self.rnn = cls(embed_dim, question_dim, batch_first=True)
        else:
            self.code_fc = nn.Linear(code_size, question_dim)
        dims = [image_dim + question_dim] + [int(h) for h in hidden]
        mlp = []
        for a, b in zip(dims[:-1], dims[1:]):
            mlp += [nn.Linear(a, b), nn.ReLU()]
        mlp.append(nn.Linear(dims[-1], num_answers))
        self.decoder = nn.Sequential(*mlp)

    def encode_image(self, images, question=None):
        """(B, 3, H, W) -> the image thought vector (B, image_dim). With fusion='film' the
        question thought vector ``question`` (B, question_dim) conditions the conv blocks."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != self.image_size \
                or images.shape[3] != self.image_size:
            raise ValueError(f"VQANet: expected images (B, 3, {self.image_size}, "
                             f"{self.image_size}), got {tuple(images.shape)}")
        if self.coords:
            images = cat([images, self._coordinate_channels(images)], 1)
        if self.fusion == "concat":
            f = self.cnn(images)
        else:
            if question is None or question.ndim != 2 or question.shape[0] != images.shape[0]:
                raise ValueError(f"VQANet: fusion='film' needs the question vector (B, D) with "
                                 f"B = {images.shape[0]} images, got "
                                 f"{None if question is None else tuple(question.shape)}")
            f = images
            for k, lin in enumerate(self.film):
                conv, bn, act = self.cnn[3 * k], self.cnn[3 * k + 1], self.cnn[3 * k + 2]
                gamma, beta = lin(question).chunk(2, 1)  # (B, C_k) each
                f = bn(conv(f))
                f = act(f * (gamma.reshape(*gamma.shape, 1, 1) + 1.0)
                        + beta.reshape(*beta.shape, 1, 1))
        return self.image_fc(f.reshape(f.shape[0], -1)).relu()

    def _coordinate_channels(self, images):
        """(B, 2, H, W): x (the column) and y (the row) of each pixel, scaled to [-1, 1]."""
        s = self.image_size
        g = np.linspace(-1.0, 1.0, s, dtype=images.data.dtype)
        xy = np.stack([np.broadcast_to(g[None, :], (s, s)), np.broadcast_to(g[:, None], (s, s))])
        xy = np.ascontiguousarray(np.broadcast_to(xy, (images.shape[0], 2, s, s)))
        return Tensor._make(backend.asarray_like(images.data, xy), False, None, 0)

    def encode_question(self, questions=None, lengths=None, codes=None):
        """Token ids (B, L) with lengths (B,) (or codes (B, 11)) -> (B, question_dim)."""
        if self.question_encoder == "code":
            if codes is None or codes.ndim != 2 or codes.shape[1] != self.code_size:
                raise ValueError(f"VQANet: question_encoder='code' needs codes (B, "
                                 f"{self.code_size}), got "
                                 f"{None if codes is None else tuple(codes.shape)}")
            return self.code_fc(codes).relu()
        q = np.asarray(questions.data if isinstance(questions, Tensor) else questions)
        if q.ndim != 2 or q.dtype.kind not in "iu":
            raise ValueError(f"VQANet: expected questions (B, L) of integer ids, got {q.shape} "
                             f"{q.dtype}")
        if lengths is None:
            lens = (q != self.pad_id).sum(-1)
        else:
            lens = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
        _, h = self.rnn(self.embedding(Tensor._make(q.astype(np.int64), False, None, 0)),
                        lengths=lens)
        if self.rnn_kind == "lstm":
            h = h[0]
        return h[-1]  # (B, H): the state after each question's last real word

    def forward(self, images, questions=None, lengths=None, codes=None):
        if questions is None and codes is None:
            if not isinstance(images, (tuple, list)) or len(images) != 4:
                raise TypeError(f"VQANet: expected images and questions, or one tuple (images, "
                                f"questions, lengths, codes), got {type(images).__name__}")
            images, questions, lengths, codes = images
        u = self.encode_question(questions, lengths, codes)
        if u.shape[0] != images.shape[0]:
            raise ValueError(f"VQANet: {images.shape[0]} images but {u.shape[0]} questions")
        v = self.encode_image(images, u)
        return self.decoder(cat([v, u], 1))

    def extra_repr(self):
        return (f"image_size={self.image_size}, question_encoder={self.question_encoder!r}, "
                f"rnn={self.rnn_kind!r}, num_answers={self.num_answers}, "
                f"coords={self.coords}, fusion={self.fusion!r}")
