"""Text datasets (src/chainrule/datasets/text.py): Vocabulary (encode/decode, specials, unknown
tokens, state_dict round trip through JSON), CharDataset (reading files, chunks, train/val split
by position, bptt_batches whose rows continue from batch to batch)."""
import json

import numpy as np
import pytest

from chainrule.datasets import CharDataset, Vocabulary
from chainrule.datasets.text import SPECIALS

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20


def test_vocabulary_specials_first_and_encode_decode():
    v = Vocabulary.from_text("abcab")
    assert v.itos[:4] == list(SPECIALS) and v.itos[4:] == ["a", "b", "c"]
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    ids = v.encode("cab", add_bos=True, add_eos=True)
    assert ids == [1, 6, 4, 5, 2]
    assert v.decode(ids) == "cab"
    assert v.decode(ids + [6, 6]) == "cab"  # stops at <eos>
    assert v.decode([4, 0, 0], strip_specials=True) == "a"
    assert v.encode("az") == [4, 3]  # unknown -> <unk>
    assert v.decode(np.array([4, 3])) == "a<unk>"
    assert len(v) == 7 and "a" in v and v["c"] == 6


def test_vocabulary_without_specials_rejects_unknown_tokens():
    v = Vocabulary.from_text("ab", specials=())
    assert v.encode("ba") == [1, 0]
    with pytest.raises(KeyError, match="'z' is not in the vocabulary"):
        v.encode("z")
    with pytest.raises(KeyError, match="no <eos> token"):
        v.eos_id


def test_word_vocabulary_by_frequency():
    v = Vocabulary.from_sequences([["the", "cat"], ["the", "dog"], ["a"]], min_freq=1)
    assert v.itos[4] == "the"
    assert v.decode(v.encode(["the", "dog"])) == "the dog"
    assert "a" not in Vocabulary.from_sequences([["the", "the", "a"]], min_freq=2)


def test_vocabulary_state_dict_round_trips_through_json():
    v = Vocabulary.from_text("héllo wörld ✓")
    state = json.loads(json.dumps(v.state_dict()))
    w = Vocabulary.from_state_dict(state)
    assert w == v and w.itos == v.itos and w.stoi == v.stoi
    assert w.decode(w.encode("wörld ✓")) == "wörld ✓"


def test_char_dataset_reads_a_utf8_file_and_builds_its_vocab(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("ünïcode text ✓\n" * 5, encoding="utf-8")
    for src in (p, str(p)):
        ds = CharDataset(src, seq_len=4)
        assert ds.text == p.read_text(encoding="utf-8")
        assert len(ds.vocab) == len(set(ds.text))  # no specials: one id per character
        assert ds.vocab.decode(ds.data) == ds.text
    x, y = ds[0]
    assert x.dtype == np.int64 and x.shape == (4,)
    np.testing.assert_array_equal(x.data[1:], y.data[:-1])
    assert len(ds) == (len(ds.text) - 1) // 4
    xb, yb = ds.__getitems__([0, 2])
    np.testing.assert_array_equal(xb.data[1], ds[2][0].data)


def test_train_val_split_by_position_shares_the_vocab():
    train, val = CharDataset.splits(TEXT, seq_len=8, val_fraction=0.25)
    assert train.vocab is val.vocab
    assert train.text + val.text == TEXT
    assert abs(len(val.text) - 0.25 * len(TEXT)) <= 1
    v2 = CharDataset(TEXT, 8, vocab=train.vocab, split="val", val_fraction=0.25)
    np.testing.assert_array_equal(v2.data, val.data)


def test_bptt_batches_continue_across_batches():
    ds = CharDataset(TEXT, seq_len=7)
    B, T = 4, 7
    batches = list(ds.bptt_batches(B, T))
    n = (len(ds.data) - 1) // B
    assert len(batches) == ds.num_bptt_batches(B, T) == -(-n // T)
    streams = ds.data[:B * n].reshape(B, n)
    for k, (x, y) in enumerate(batches):
        assert x.dtype == np.int64 and x.shape[0] == B
        np.testing.assert_array_equal(x.data, streams[:, k * T:(k + 1) * T])
        np.testing.assert_array_equal(y.data[:, :-1], x.data[:, 1:])  # y is x shifted
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(y0.data[:, -1], x1.data[:, 0])  # row b continues
    # every row is one contiguous stretch of the text
    row = np.concatenate([x.data[1] for x, _ in batches])
    assert ds.vocab.decode(row) == ds.text[n:2 * n]
    assert all(x.shape == (B, T) for x, _ in ds.bptt_batches(B, T, drop_last=True))


def test_char_dataset_errors():
    with pytest.raises(FileNotFoundError, match="no file 'data/missing.txt'"):
        CharDataset("data/missing.txt", 8)
    assert CharDataset("just some words", 4).text == "just some words"
    with pytest.raises(ValueError, match="split must be"):
        CharDataset(TEXT, 8, split="dev")
    with pytest.raises(ValueError, match="need at least 2"):
        CharDataset("a", 8)
    with pytest.raises(ValueError, match="cannot make 100 streams"):
        next(CharDataset("abcdef", 2).bptt_batches(100, 2))
