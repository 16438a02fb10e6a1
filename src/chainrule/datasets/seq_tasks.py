"""Synthetic sequence-to-sequence tasks for the encoder-decoder of the notes (section 3.4).

The encoding RNN reads a source string into a thought vector; the decoding RNN writes the target
string from it (notes 3.4, "Translation"). Two small translation problems, generated from a seed:

- ``DateTranslation``: dates written by people in many formats ("the 3rd of march 1999",
  "03/03/99", "Mar 3, 1999", "Wednesday, March 3, 1999", ...) -> the ISO date "1999-03-03";
- ``Addition``: "123+45" -> "168".

Train and test are drawn from disjoint sets of underlying items (calendar dates; operand pairs):
each item belongs to one split by a fixed hash, whatever the seed, so a test score measures
generalization to unseen dates and sums, not recall.

Each dataset has ``src_vocab`` and ``tgt_vocab`` (character ``Vocabulary`` objects with
<pad>, <bos>, <eos>, <unk>), ``pairs`` (source, target) strings, ``ds[i]`` one pair, and
``collate(pairs)`` -> ``SeqBatch(src, src_lengths, tgt_in, tgt_out)``: int64 tensors, src (B, S)
padded with <pad>, src_lengths (B,), tgt_in = <bos> + target (B, T), tgt_out = target + <eos>
(B, T), both padded with <pad>. ``DataLoader(ds, batch_size, shuffle=True)`` yields SeqBatch
directly (the datasets collate whole batches in ``__getitems__``).

>>> train = DateTranslation(10000, seed=0, split="train")
>>> train[0]                                   # e.g. ('3 March 1999', '1999-03-03')
>>> b = train.collate([train[i] for i in range(32)])
>>> b.src.shape, b.tgt_in.shape                # (32, S), (32, 11)
"""
from __future__ import annotations

import datetime
import string
from typing import NamedTuple

import numpy as np

from ..data.dataset import Dataset
from ..tensor import Tensor
from .text import Vocabulary

def _mix64(x):
    """splitmix64's finalizer: a fixed, well-spread hash of non-negative integers (uint64 array)."""
    x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def in_test_split(keys, test_fraction):
    """Whether each integer key belongs to the test split: a fixed hash below test_fraction."""
    u = (_mix64(keys) >> np.uint64(11)).astype(np.float64) / float(2 ** 53)
    return u < test_fraction


def _check_split(who, split, test_fraction):
    if split not in ("train", "test"):
        raise ValueError(f"{who}: split must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"{who}: test_fraction must be in (0, 1), got {test_fraction}")


class SeqBatch(NamedTuple):
    """A padded batch of a sequence-to-sequence task (all int64)."""

    src: Tensor  # (B, S) source ids, <pad> after the end
    src_lengths: Tensor  # (B,) lengths of the sources
    tgt_in: Tensor  # (B, T) <bos> y_1 ... y_n, the decoder's input under teacher forcing
    tgt_out: Tensor  # (B, T) y_1 ... y_n <eos>, what it must predict


def _ids(arr):
    return Tensor._make(np.asarray(arr, dtype=np.int64), False, None, 0)


def pad_sequences(seqs, pad_id):
    """(ids (B, max_len) int64 padded with pad_id, lengths (B,) int64) from lists of ids."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), int(lengths.max()) if len(seqs) else 0), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths


class Seq2SeqTask(Dataset):
    """Base of the string-to-string tasks: ``pairs``, the two vocabularies and the collate."""

    def __init__(self, pairs, src_vocab, tgt_vocab):
        self.pairs = pairs
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return self.pairs[i]

    def __getitems__(self, indices):
        return self.collate([self.pairs[i] for i in indices])

    def encode_sources(self, sources):
        """(src (B, S), src_lengths (B,)) int64 tensors for a list of source strings."""
        src, lengths = pad_sequences([self.src_vocab.encode(s) for s in sources],
                                     self.src_vocab.pad_id)
        return _ids(src), _ids(lengths)

    def collate(self, pairs):
        """A ``SeqBatch`` from a list of (source, target) strings."""
        src, src_len = self.encode_sources([s for s, _ in pairs])
        tv = self.tgt_vocab
        tgt = [tv.encode(t) for _, t in pairs]
        tgt_in, _ = pad_sequences([[tv.bos_id] + t for t in tgt], tv.pad_id)
        tgt_out, _ = pad_sequences([t + [tv.eos_id] for t in tgt], tv.pad_id)
        return SeqBatch(src, src_len, _ids(tgt_in), _ids(tgt_out))


# ---- dates ------------------------------------------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(n):
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d):
    return _MONTHS[d.month - 1]


def _day(d):
    return _DAYS[d.weekday()]


DATE_FORMATS = {
    "iso_unpadded": lambda d: f"{d.year}-{d.month}-{d.day}",  # 1999-3-3
    "us_slash_yy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",  # 03/03/99
    "us_slash": lambda d: f"{d.month}/{d.day}/{d.year}",  # 3/3/1999
    "eu_dots": lambda d: f"{d.day}.{d.month}.{d.year}",  # 3.3.1999
    "month_abbr": lambda d: f"{_month(d)[:3]} {d.day}, {d.year}",  # Mar 3, 1999
    # Wednesday, March 3, 1999
    "weekday_long": lambda d: f"{_day(d)}, {_month(d)} {d.day}, {d.year}",
    "day_month": lambda d: f"{d.day} {_month(d)} {d.year}",  # 3 March 1999
    # the 3rd of march 1999
    "the_of": lambda d: f"the {ordinal(d.day)} of {_month(d).lower()} {d.year}",
    "month_ordinal": lambda d: f"{_month(d).lower()} {ordinal(d.day)}, {d.year}",  # march 3rd, 1999
    "day_abbr_yy": lambda d: f"{d.day} {_month(d)[:3].lower()} {d.year % 100:02d}",  # 3 mar 99
    "upper": lambda d: f"{_month(d).upper()} {d.day} {d.year}",  # MARCH 3 1999
    "weekday_abbr": lambda d: f"{_day(d)[:3]} {d.day} {_month(d)[:3]} {d.year}",  # Wed 3 Mar 1999
    "compact": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",  # 19990303
    "dash_abbr": lambda d: f"{d.day:02d}-{_month(d)[:3]}-{d.year}",  # 03-Mar-1999
    # wednesday the 3rd of march 1999
    "weekday_the_of": lambda d: (f"{_day(d).lower()} the {ordinal(d.day)} of "
                                 f"{_month(d).lower()} {d.year}"),
}
"""The human formats of ``DateTranslation``, by name (each: datetime.date -> str)."""

DATE_SOURCE_CHARS = " ,-./" + string.digits + string.ascii_letters
DATE_TARGET_CHARS = "-" + string.digits


class DateTranslation(Seq2SeqTask):
    """Human-written dates -> ISO dates: "the 3rd of march 1999" -> "1999-03-03".

    Args:
        n: number of examples.
        seed: seed of the draw of dates and formats.
        split: 'train' or 'test'; the two draw from disjoint sets of calendar days (a fixed hash
            of the day puts ``test_fraction`` of the days in the test set, whatever the seed).
        start, end: the range of dates (inclusive). With the default 1950-01-01 .. 2049-12-31 a
            two-digit year is unambiguous (50-99 -> 19xx, 00-49 -> 20xx).
        formats: names from ``DATE_FORMATS`` to use (all by default), each drawn with equal
            probability.

    Attributes: ``pairs`` [(source, "YYYY-MM-DD")], ``dates`` (datetime.date per example),
    ``formats`` (the format name per example), ``src_vocab`` (letters, digits, " ,-./"),
    ``tgt_vocab`` (digits and "-"); the vocabularies are fixed, equal for every split and seed.
    """

    def __init__(self, n, seed=0, split="train", test_fraction=0.1,
                 start=datetime.date(1950, 1, 1), end=datetime.date(2049, 12, 31), formats=None):
        _check_split("DateTranslation", split, test_fraction)
        names = list(DATE_FORMATS) if formats is None else list(formats)
        unknown = [f for f in names if f not in DATE_FORMATS]
        if unknown or not names:
            raise ValueError(f"DateTranslation: unknown formats {unknown}; choose from "
                             f"{list(DATE_FORMATS)}")
        days = np.arange(start.toordinal(), end.toordinal() + 1)
        pool = days[in_test_split(days, test_fraction) == (split == "test")]
        if len(pool) == 0:
            raise ValueError(f"DateTranslation: no {split} dates between {start} and {end}")
        rng = np.random.default_rng(seed)
        picked = rng.choice(pool, size=n, replace=n > len(pool))
        fmt = rng.integers(0, len(names), size=n)
        self.dates = [datetime.date.fromordinal(int(o)) for o in picked]
        self.formats = [names[i] for i in fmt]
        pairs = [(DATE_FORMATS[f](d), d.isoformat()) for d, f in zip(self.dates, self.formats)]
        super().__init__(pairs, Vocabulary(DATE_SOURCE_CHARS), Vocabulary(DATE_TARGET_CHARS))
        self.split = split

    def __repr__(self):
        return f"DateTranslation({len(self)} pairs, split={self.split!r})"


# ---- addition ---------------------------------------------------------------------------------

class Addition(Seq2SeqTask):
    """Sums of two integers written as text: "123+45" -> "168".

    Args:
        n: number of examples.
        digits: the most digits of an operand; each operand's number of digits is uniform in
            1..digits, then its value uniform among the numbers with that many digits.
        seed: seed of the draw.
        split: 'train' or 'test'; a fixed hash of the ordered pair (a, b) puts ``test_fraction``
            of all pairs in the test set, whatever the seed, so the two never share a pair.

    Attributes: ``pairs`` [("a+b", "a+b's value")], ``operands`` int64 (n, 2), ``src_vocab``
    (digits and "+"), ``tgt_vocab`` (digits).
    """

    def __init__(self, n, digits=3, seed=0, split="train", test_fraction=0.1):
        _check_split("Addition", split, test_fraction)
        if not 1 <= digits <= 9:
            raise ValueError(f"Addition: digits must be in 1..9, got {digits}")
        rng = np.random.default_rng(seed)
        base = 10 ** digits
        want_test = split == "test"
        chunks, have = [], 0
        while have < n:
            m = 2 * (n - have) + 64
            ab = np.empty((m, 2), dtype=np.int64)
            for c in range(2):
                k = rng.integers(1, digits + 1, size=m)  # number of digits
                lo = np.where(k == 1, 0, 10 ** (k - 1))
                ab[:, c] = lo + (rng.random(m) * (10 ** k - lo)).astype(np.int64)
            keep = ab[in_test_split(ab[:, 0] * base + ab[:, 1], test_fraction) == want_test]
            chunks.append(keep[:n - have])
            have += len(chunks[-1])
        self.operands = np.concatenate(chunks) if chunks else np.empty((0, 2), np.int64)
        self.digits = digits
        self.split = split
        pairs = [(f"{a}+{b}", str(a + b)) for a, b in self.operands.tolist()]
        super().__init__(pairs, Vocabulary("+" + string.digits), Vocabulary(string.digits))

    def __repr__(self):
        return f"Addition({len(self)} pairs, digits={self.digits}, split={self.split!r})"
