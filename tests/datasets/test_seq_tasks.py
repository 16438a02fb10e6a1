"""Sequence-to-sequence tasks (src/chainrule/datasets/seq_tasks.py): dates in many formats mapped
to correct ISO dates, addition with correct sums, disjoint train/test items, seeding, collate."""
import datetime

import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.datasets import Addition, DateTranslation
from chainrule.datasets.seq_tasks import DATE_FORMATS, SeqBatch, ordinal

STRPTIME = {"iso_unpadded": "%Y-%m-%d", "us_slash": "%m/%d/%Y", "eu_dots": "%d.%m.%Y",
            "month_abbr": "%b %d, %Y", "weekday_long": "%A, %B %d, %Y", "day_month": "%d %B %Y",
            "weekday_abbr": "%a %d %b %Y", "compact": "%Y%m%d", "dash_abbr": "%d-%b-%Y",
            "upper": "%B %d %Y"}


def test_examples_of_the_formats():
    d = datetime.date(1999, 3, 3)
    got = {name: f(d) for name, f in DATE_FORMATS.items()}
    assert got["the_of"] == "the 3rd of march 1999"
    assert got["us_slash_yy"] == "03/03/99"
    assert got["month_abbr"] == "Mar 3, 1999"
    assert got["weekday_long"] == "Wednesday, March 3, 1999"
    assert got["day_month"] == "3 March 1999"
    assert got["iso_unpadded"] == "1999-3-3"
    assert [ordinal(i) for i in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_many_formats_and_the_iso_targets_are_right():
    ds = DateTranslation(3000, seed=0)
    assert len(ds) == 3000 and len(set(ds.formats)) == len(DATE_FORMATS) >= 12
    months = [m.lower() for m in ("January February March April May June July August September "
                                  "October November December").split()]
    for (src, tgt), d, f in zip(ds.pairs, ds.dates, ds.formats):
        assert tgt == d.isoformat() and len(tgt) == 10
        assert datetime.date.fromisoformat(tgt) == d
        if f in STRPTIME:  # an independent parse of the source
            assert datetime.datetime.strptime(src, STRPTIME[f]).date() == d, (src, f)
        elif f == "us_slash_yy":
            m, day, yy = map(int, src.split("/"))
            assert (m, day, (1900 if yy >= 50 else 2000) + yy) == (d.month, d.day, d.year)
        elif f in ("the_of", "weekday_the_of"):
            words = src.split()
            assert int(words[-4][:-2]) == d.day and months.index(words[-2]) + 1 == d.month
            assert int(words[-1]) == d.year
    assert all(set(s) <= set(ds.src_vocab.itos) for s, _ in ds.pairs)


def test_dates_seeded_and_train_test_disjoint():
    a, b = DateTranslation(500, seed=3), DateTranslation(500, seed=3)
    assert a.pairs == b.pairs
    assert DateTranslation(500, seed=4).pairs != a.pairs
    train = set(DateTranslation(20000, seed=1).dates) | set(DateTranslation(5000, seed=9).dates)
    test = set(DateTranslation(2000, seed=2, split="test").dates)
    assert len(test) > 1000 and not train & test
    assert DateTranslation(10, split="test").src_vocab == a.src_vocab  # fixed vocabularies


def test_addition_sums_and_disjoint_pairs():
    ds = Addition(2000, digits=3, seed=0)
    for (src, tgt), (a, b) in zip(ds.pairs, ds.operands.tolist()):
        x, y = src.split("+")
        assert (int(x), int(y)) == (a, b) and int(tgt) == a + b
        assert 0 <= a < 1000 and 0 <= b < 1000
    lengths = {len(src.split("+")[0]) for src, _ in ds.pairs}
    assert lengths == {1, 2, 3}
    test = Addition(2000, digits=3, seed=1, split="test")
    assert not set(map(tuple, ds.operands.tolist())) & set(map(tuple, test.operands.tolist()))
    assert Addition(50, seed=5).pairs == Addition(50, seed=5).pairs
    tiny_train = set(Addition(500, digits=1, seed=0).pairs)
    tiny_test = set(Addition(500, digits=1, seed=0, split="test").pairs)
    assert tiny_test and not tiny_train & tiny_test and len(tiny_train | tiny_test) == 100


def test_collate_pads_and_adds_bos_eos():
    ds = Addition(10, seed=0)
    pairs = [("12+3", "15"), ("1+1", "2")]
    b = ds.collate(pairs)
    assert isinstance(b, SeqBatch)
    sv, tv = ds.src_vocab, ds.tgt_vocab
    assert b.src.tolist() == [sv.encode("12+3"), sv.encode("1+1") + [sv.pad_id]]
    assert b.src_lengths.tolist() == [4, 3]
    assert b.tgt_in.tolist() == [[tv.bos_id] + tv.encode("15"), [tv.bos_id] + tv.encode("2") + [0]]
    assert b.tgt_out.tolist() == [tv.encode("15") + [tv.eos_id], tv.encode("2") + [tv.eos_id, 0]]
    assert all(t.dtype == np.int64 for t in b)
    assert tv.decode(b.tgt_out[1]) == "2"


def test_dataloader_yields_seq_batches():
    ds = DateTranslation(100, seed=0)
    batches = list(DataLoader(ds, batch_size=32, shuffle=True))
    assert len(batches) == 4 and all(isinstance(b, SeqBatch) for b in batches)
    assert batches[0].src.shape[0] == 32 and batches[-1].src.shape[0] == 4
    assert batches[0].tgt_in.shape == (32, 11)


def test_errors():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        DateTranslation(5, split="val")
    with pytest.raises(ValueError, match="unknown formats"):
        DateTranslation(5, formats=["nope"])
    with pytest.raises(ValueError, match="digits must be"):
        Addition(5, digits=0)
