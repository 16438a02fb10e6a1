"""Text as sequences of ids: a vocabulary, and a character-level corpus for language models.

notes 3.4 (Figure 18): an RNN for sequence generation reads the current letter x_t (a one-hot
vector, i.e. an id) and predicts the next letter y_t = x_{t+1}. ``CharDataset`` turns any UTF-8
text into such (x, y) pairs; ``bptt_batches`` lays the corpus out in ``batch_size`` parallel
streams so that the hidden state (the thought vector h_t) can be carried from one batch to the
next (truncated back-propagation through time).

>>> ds = CharDataset("hello world\\n" * 100, seq_len=16)
>>> ds.vocab.decode(ds.vocab.encode("hello"))
'hello'
>>> for x, y in ds.bptt_batches(batch_size=4, seq_len=16):   # x, y: int64 (4, 16); y = x shifted
...     pass
"""
from __future__ import annotations

import collections
import os
import pathlib
import re

import numpy as np

from ..data.dataset import Dataset
from ..tensor import Tensor

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def _ids(arr):
    return Tensor._make(np.ascontiguousarray(arr, dtype=np.int64), False, None, 0)


class Vocabulary:
    """Tokens (characters or words) <-> integer ids, with special tokens first.

    Args:
        tokens: the ordinary tokens, in id order (duplicates and specials are dropped).
        specials: special tokens, given the first ids (default ``<pad>`` 0, ``<bos>`` 1,
            ``<eos>`` 2, ``<unk>`` 3); pass ``()`` for none.
        sep: what ``decode`` puts between tokens ("" for characters, " " for words).

    ``encode`` maps an unknown token to ``<unk>`` (an error if the vocabulary has none).
    ``state_dict()`` is plain JSON-able data (lists and strings), for checkpoints.

    Example::

        >>> v = Vocabulary.from_text("abcab")
        >>> v.encode("cab", add_bos=True, add_eos=True)     # [1, 6, 4, 5, 2]
        >>> v.decode([6, 4, 5, 2])                          # 'cab' (specials dropped)
    """

    def __init__(self, tokens=(), specials=SPECIALS, sep=""):
        self.itos = []
        self.stoi = {}
        for t in list(specials) + list(tokens):
            if not isinstance(t, str):
                raise TypeError(f"Vocabulary: tokens must be strings, got {t!r}")
            if t not in self.stoi:
                self.stoi[t] = len(self.itos)
                self.itos.append(t)
        self.specials = tuple(dict.fromkeys(specials))
        self.sep = sep

    @classmethod
    def from_text(cls, text, specials=SPECIALS):
        """A character vocabulary: the distinct characters of ``text``, sorted."""
        return cls(sorted(set(text)), specials=specials, sep="")

    @classmethod
    def from_sequences(cls, sequences, min_freq=1, specials=SPECIALS, sep=" "):
        """A token vocabulary from an iterable of token sequences: tokens seen at least
        ``min_freq`` times, most frequent first (ties in first-seen order)."""
        counts = collections.Counter()
        for seq in sequences:
            counts.update(seq)
        return cls([t for t, c in counts.most_common() if c >= min_freq], specials, sep)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __getitem__(self, token):
        return self.stoi[token]

    def _special_id(self, token):
        i = self.stoi.get(token)
        if i is None:
            raise KeyError(f"Vocabulary: this vocabulary has no {token} token (specials: "
                           f"{list(self.specials)})")
        return i

    @property
    def pad_id(self):
        return self._special_id(PAD)

    @property
    def bos_id(self):
        return self._special_id(BOS)

    @property
    def eos_id(self):
        return self._special_id(EOS)

    @property
    def unk_id(self):
        return self._special_id(UNK)

    def encode(self, tokens, add_bos=False, add_eos=False):
        """A list of ids for a string of characters or a sequence of tokens."""
        stoi = self.stoi
        unk = stoi.get(UNK)
        ids = [self.bos_id] if add_bos else []
        for t in tokens:
            i = stoi.get(t, unk)
            if i is None:
                raise KeyError(f"Vocabulary.encode: token {t!r} is not in the vocabulary (of "
                               f"{len(self)} tokens) and there is no {UNK} token")
            ids.append(i)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, strip_specials=True, stop_at_eos=True):
        """The text of a sequence of ids (a list, array or 1-D Tensor): tokens joined by ``sep``.

        ``stop_at_eos`` cuts at the first ``<eos>``; ``strip_specials`` drops pad/bos/eos (an
        ``<unk>`` is kept, shown as ``<unk>``)."""
        if isinstance(ids, Tensor):
            ids = ids.data
        drop = {self.stoi[s] for s in self.specials if s != UNK} if strip_specials else set()
        eos = self.stoi.get(EOS) if stop_at_eos else None
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == eos:
                break
            if not 0 <= i < len(self.itos):
                raise IndexError(f"Vocabulary.decode: id {i} is out of range [0, {len(self)})")
            if i not in drop:
                out.append(self.itos[i])
        return self.sep.join(out)

    def state_dict(self):
        """Plain data (JSON-able) that ``from_state_dict`` rebuilds the vocabulary from."""
        return {"itos": list(self.itos), "specials": list(self.specials), "sep": self.sep}

    @classmethod
    def from_state_dict(cls, state):
        specials = list(state["specials"])
        itos = list(state["itos"])
        if itos[:len(specials)] != specials:
            raise ValueError("Vocabulary.from_state_dict: the specials must be the first tokens "
                             "of itos")
        return cls(itos[len(specials):], specials=specials, sep=state.get("sep", ""))

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.state_dict() == other.state_dict()

    __hash__ = None

    def __repr__(self):
        shown = "".join(t for t in self.itos[len(self.specials):][:40]) if not self.sep else \
            self.sep.join(self.itos[len(self.specials):][:10])
        return f"Vocabulary({len(self)} tokens: specials {list(self.specials)}, {shown!r}...)"


def _looks_like_a_path(s):
    return not any(c.isspace() for c in s) and (
        "/" in s or "\\" in s or re.search(r"\.[A-Za-z0-9]{1,4}$", s) is not None)


def _read_source(source):
    """The text of ``source``: a path (str or PathLike) of an existing file, or the text itself.

    A one-line str without spaces that looks like a file name ("data/input.txt") but names no
    file is an error, not a tiny text."""
    if isinstance(source, (pathlib.Path, os.PathLike)):
        return pathlib.Path(source).read_text(encoding="utf-8")
    if not isinstance(source, str):
        raise TypeError(f"CharDataset: expected a file path or a str of text, got "
                        f"{type(source).__name__}")
    if "\n" not in source and len(source) < 4096:
        if os.path.isfile(source):
            with open(source, encoding="utf-8") as f:
                return f.read()
        if _looks_like_a_path(source):
            raise FileNotFoundError(f"CharDataset: no file {source!r} (pass a pathlib.Path for a "
                                    f"file; a str is read as a path only when the file exists)")
    return source


class CharDataset(Dataset):
    """A character-level corpus for language modelling: x = text[t : t+T], y = text[t+1 : t+T+1].

    Args:
        source: a path to a UTF-8 text file (str or pathlib.Path), or the text itself (a str that is
            not the name of an existing file; one word that looks like a file name, such as
            "data/input.txt", but names no file raises FileNotFoundError).
        seq_len: T, the length of the samples ``ds[i]`` and the default of ``bptt_batches``.
        vocab: a ``Vocabulary`` to use (e.g. the training set's, or one from a checkpoint); by
            default one is built from the characters of the whole text, without special tokens
            (so its size is the number of distinct characters).
        split: None (the whole text), 'train' (the first 1 - val_fraction of it) or 'val' (the
            rest): a split by position, so the two never share a character of text.
        val_fraction: the share of the text, from the end, that is the validation split.

    Attributes: ``text`` (the split's text), ``data`` (int64 ids of it), ``vocab``.

    ``ds[i]``: the i-th non-overlapping chunk, (x, y) int64 (T,) each, y the next characters.
    ``bptt_batches(batch_size, seq_len)``: contiguous batches for truncated BPTT.
    """

    def __init__(self, source, seq_len=64, vocab=None, split=None, val_fraction=0.1):
        text = _read_source(source)
        if split not in (None, "train", "val"):
            raise ValueError(f"CharDataset: split must be None, 'train' or 'val', got {split!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"CharDataset: val_fraction must be in (0, 1), got {val_fraction}")
        if seq_len < 1:
            raise ValueError(f"CharDataset: seq_len must be >= 1, got {seq_len}")
        self.vocab = Vocabulary.from_text(text, specials=()) if vocab is None else vocab
        cut = int(round(len(text) * (1.0 - val_fraction)))
        if split == "train":
            text = text[:cut]
        elif split == "val":
            text = text[cut:]
        if len(text) < 2:
            raise ValueError(f"CharDataset: the text{' of split ' + repr(split) if split else ''} "
                             f"has {len(text)} characters; need at least 2 (an input and its "
                             f"next character)")
        self.text = text
        self.split = split
        self.seq_len = int(seq_len)
        self.data = np.array(self.vocab.encode(text), dtype=np.int64)

    @classmethod
    def splits(cls, source, seq_len=64, val_fraction=0.1):
        """(train, val) datasets of one text sharing one vocabulary (built from all of it)."""
        text = _read_source(source)
        vocab = Vocabulary.from_text(text, specials=())
        return (cls(text, seq_len, vocab, "train", val_fraction),
                cls(text, seq_len, vocab, "val", val_fraction))

    def __len__(self):
        return (len(self.data) - 1) // self.seq_len

    def __getitem__(self, i):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"CharDataset: index {i} is out of range for {n} chunks")
        s = (i % n) * self.seq_len
        return _ids(self.data[s:s + self.seq_len]), _ids(self.data[s + 1:s + 1 + self.seq_len])

    def __getitems__(self, indices):
        idx = np.asarray(indices, dtype=np.int64)[:, None] * self.seq_len + np.arange(self.seq_len)
        return _ids(self.data[idx]), _ids(self.data[idx + 1])

    def bptt_batches(self, batch_size, seq_len=None, drop_last=False):
        """Batches (x, y), int64 (batch_size, seq_len), in which row b of batch k+1 continues row b
        of batch k.

        The ids are cut into ``batch_size`` equal streams (the tail that does not fit is dropped),
        stream b being row b; each batch is the next ``seq_len`` characters of every stream, and
        y is x shifted by one. Carry the RNN's state from batch to batch (detached) to give it a
        memory longer than seq_len. The last batch may be shorter, unless ``drop_last``.
        """
        T = self.seq_len if seq_len is None else int(seq_len)
        n = (len(self.data) - 1) // batch_size  # characters per stream
        if batch_size < 1 or T < 1 or n < 1:
            raise ValueError(f"CharDataset.bptt_batches: {len(self.data)} characters cannot make "
                             f"{batch_size} streams with seq_len {T}")
        x = self.data[:batch_size * n].reshape(batch_size, n)
        y = self.data[1:batch_size * n + 1].reshape(batch_size, n)
        for t in range(0, n, T):
            if drop_last and t + T > n:
                break
            yield _ids(x[:, t:t + T]), _ids(y[:, t:t + T])

    def num_bptt_batches(self, batch_size, seq_len=None, drop_last=False):
        """How many batches ``bptt_batches`` yields."""
        T = self.seq_len if seq_len is None else int(seq_len)
        n = (len(self.data) - 1) // batch_size
        return n // T if drop_last else -(-n // T)

    def __repr__(self):
        return (f"CharDataset({len(self.text)} characters, vocab {len(self.vocab)}, "
                f"seq_len={self.seq_len}, split={self.split!r})")
