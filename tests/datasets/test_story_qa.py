"""bAbI-style story QA (src/chainrule/datasets/story_qa.py): seeded generation of tasks 1 and 2,
answers and supporting facts re-derived by an independent tracker, disjoint train/test stories,
the bAbI text format (write -> read round trip, a real-format snippet, malformed files), the
padded id arrays and DataLoader batches, the vocabulary as plain data."""
import json

import numpy as np
import pytest

from chainrule.data import DataLoader, default_collate
from chainrule.datasets import StoryQA
from chainrule.datasets.story_qa import (BabiFormatError, EncodedQA, Line, generate_stories,
                                         read_babi, stories_to_examples, write_babi)
from chainrule.datasets.text import Vocabulary

PLACE_WORDS = {"kitchen", "garden", "office", "bathroom", "hallway", "bedroom"}
TAKE = {"picked", "got", "grabbed", "took"}
DROP = {"dropped", "discarded", "put", "left"}


def _track(lines):
    """An independent reading of a story: for each question line, (answer, supporting indices)
    re-derived from the words of the statements before it."""
    where = {}  # person -> (place, index of the move)
    holder = {}  # object -> (person, index of the pick-up)
    lying = {}  # object -> (place, index of the drop, index of the dropper's move)
    out = {}
    for i, ln in enumerate(lines):
        t = ln.tokens
        if ln.answer is not None:
            if t[:2] == ("Where", "is") and len(t) == 3:  # a person
                place, k = where[t[2]]
                out[i] = (place, (k,))
            else:
                assert t[:3] == ("Where", "is", "the") and len(t) == 4, t
                obj = t[3]
                if obj in holder:
                    person, k = holder[obj]
                    place, m = where[person]
                    out[i] = (place, tuple(sorted((k, m))))
                else:
                    place, k, m = lying[obj]
                    out[i] = (place, tuple(sorted((k, m))))
        elif "to" in t:  # "<person> ... to the <place>"
            assert t[-2] == "the" and t[-1] in PLACE_WORDS, t
            where[t[0]] = (t[-1], i)
        else:
            obj = t[t.index("the") + 1]
            if t[1] in TAKE:
                holder[obj] = (t[0], i)
                lying.pop(obj, None)
            else:
                assert t[1] in DROP, t
                person, _ = holder.pop(obj)
                assert person == t[0]
                lying[obj] = (where[person][0], i, where[person][1])
    return out


def _text(stories):
    return ["\n".join(ln.text() + str(ln.answer) + str(ln.supporting) for ln in s)
            for s in stories]


def test_deterministic_under_a_seed():
    for task in (1, 2):
        a, b = StoryQA(60, task=task, seed=7), StoryQA(60, task=task, seed=7)
        assert a.stories == b.stories and a.examples == b.examples
        for name in ("story", "question", "answer", "supporting", "n_sentences"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert StoryQA(60, task=task, seed=8).stories != a.stories


@pytest.mark.parametrize("task", [1, 2])
def test_answers_and_supporting_facts_rederived_by_a_tracker(task):
    stories = generate_stories(300, task=task, seed=1, n_people=4, n_objects=3)
    n_questions = 0
    for lines in stories:
        expected = _track(lines)
        asked = {i: (ln.answer, ln.supporting) for i, ln in enumerate(lines) if ln.is_question}
        assert asked == expected
        n_questions += len(asked)
        for ln in lines:  # supporting ids point back at statements
            assert all(not lines[j].is_question for j in ln.supporting)
    assert n_questions > 3 * len(stories)
    people = {ln.tokens[0] for s in stories for ln in s if not ln.is_question}
    assert people == {"Mary", "John", "Sandra", "Daniel"}


def test_task1_the_supporting_sentence_is_the_persons_last_move():
    ds = StoryQA(200, task=1, seed=2)
    for e in ds.examples:
        (k,) = e.supporting
        person = e.question[2]
        fact = e.story[k]
        assert fact[0] == person and fact[-1] == e.answer
        assert not any(s[0] == person for s in e.story[k + 1:])  # nothing later about them


def test_task2_needs_two_supporting_facts():
    ds = StoryQA(300, task=2, seed=3)
    held_moved = dropped = 0
    for e in ds.examples:
        obj = e.question[3]
        assert len(e.supporting) == 2 and e.supporting[0] < e.supporting[1]
        facts = [e.story[k] for k in e.supporting]
        about_obj = [f for f in facts if obj in f]
        moves = [f for f in facts if "to" in f]
        assert len(about_obj) == 1 and len(moves) == 1
        (of,), (mv,) = about_obj, moves
        # neither fact alone answers: the object fact names no place, the move no object
        assert not PLACE_WORDS & set(of) and obj not in mv
        # together they do: the same person, and the move ends at the answer
        assert of[0] == mv[0] and mv[-1] == e.answer
        # the object fact is the last sentence about the object
        k_obj = next(k for k in e.supporting if obj in e.story[k])
        assert not any(obj in s for s in e.story[k_obj + 1:])
        if of[1] in DROP:
            dropped += 1
            assert e.supporting[1] == k_obj  # the move came before the drop
        elif e.supporting[1] != k_obj:
            held_moved += 1  # carried elsewhere after the pick-up
    assert held_moved > 50 and dropped > 50


def test_train_and_test_stories_differ_and_share_the_vocabulary():
    for task in (1, 2):
        train = StoryQA(400, task=task, seed=0, split="train", n_people=2, n_places=3,
                        story_length=4)
        test = StoryQA(100, task=task, seed=0, split="test", n_people=2, n_places=3,
                       story_length=4)
        assert not set(_text(train.stories)) & set(_text(test.stories))
        assert train.vocab == test.vocab
        assert len(set(_text(train.stories))) > 50


def test_parameters_story_length_people_places_objects():
    stories = generate_stories(50, task=2, seed=0, story_length=12, question_every=3,
                               n_people=2, n_places=2, n_objects=1)
    for lines in stories:
        statements = [ln for ln in lines if not ln.is_question]
        assert len(statements) == 12
        assert {ln.tokens[0] for ln in statements} <= {"Mary", "John"}
        assert {ln.tokens[-1] for ln in statements if "to" in ln.tokens} <= {"kitchen", "garden"}
        assert all(ln.tokens[-1] == "football" for ln in lines if ln.is_question)
        # a question only right after every 3rd statement
        seen = 0
        for ln in lines:
            if ln.is_question:
                assert seen % 3 == 0
            else:
                seen += 1
    with pytest.raises(ValueError, match="task must be 1 or 2"):
        generate_stories(1, task=3)
    with pytest.raises(ValueError, match="n_people must be in 1..8, got 9"):
        generate_stories(1, n_people=9)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        StoryQA(1, split="val")


def test_write_then_read_round_trip(tmp_path):
    for task in (1, 2):
        ds = StoryQA(40, task=task, seed=5)
        path = tmp_path / f"qa{task}_train.txt"
        write_babi(ds.stories, path)
        rows = path.read_text().splitlines()
        assert rows[0].startswith("1 ") and rows[0].endswith(".")
        q = next(r for r in rows if "\t" in r)
        assert q.split("\t")[0].endswith("?") and len(q.split("\t")) == 3
        assert read_babi(path) == ds.stories
        back = StoryQA.from_babi(path, vocab=ds.vocab)
        assert back.examples == ds.examples
        for name in ("story", "question", "answer", "supporting", "n_sentences"):
            np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))


BABI = ("1 Mary moved to the bathroom.\n"
        "2 John went to the hallway.\n"
        "3 Where is Mary? \tbathroom\t1\n"
        "4 Daniel went back to the hallway.\n"
        "5 Where is Daniel? \thallway\t4\n"
        "1 Sandra journeyed to the kitchen.\n"
        "2 Sandra got the milk there.\n"
        "3 Where is the milk? \tkitchen\t2 1\n")


def test_read_the_babi_format(tmp_path):
    path = tmp_path / "qa.txt"
    path.write_text(BABI)
    stories = read_babi(str(path))
    assert len(stories) == 2 and len(stories[0]) == 5
    assert stories[0][0] == Line(("Mary", "moved", "to", "the", "bathroom"))
    assert stories[0][2] == Line(("Where", "is", "Mary"), "bathroom", (0,))
    assert stories[1][2] == Line(("Where", "is", "the", "milk"), "kitchen", (1, 0))
    ex = stories_to_examples(stories)
    # the memory holds the statements only: Daniel's move is memory slot 2, not line 3
    assert ex[1].story[ex[1].supporting[0]] == ["Daniel", "went", "back", "to", "the", "hallway"]
    ds = StoryQA.from_babi(path)
    assert len(ds) == 3 and ds.vocab.itos[:2] == ["<pad>", "<unk>"]
    assert ds.story.shape == (3, 3, 6) and ds.question.shape == (3, 6)
    assert ds.decode(1) == (["Mary moved to the bathroom", "John went to the hallway",
                             "Daniel went back to the hallway"], "Where is Daniel", "hallway")
    np.testing.assert_array_equal(ds.supporting, [[0, -1], [2, -1], [1, 0]])
    np.testing.assert_array_equal(ds.n_sentences, [2, 3, 2])


@pytest.mark.parametrize("text, line, message", [
    ("1 Mary moved to the office.\nMary went to the garden.\n", 2, "positive integer"),
    ("1 Mary moved to the office.\n3 Where is Mary?\toffice\t1\n", 2, "expected ID 2"),
    ("2 Mary moved to the office.\n", 1, "expected ID 1"),
    ("1 Mary moved to the office.\n2 Where is Mary?\t\t1\n", 2, "empty answer"),
    ("1 Mary moved to the office.\n2 Where is Mary?\toffice\tone\n", 2, "integers"),
    ("1 Mary moved to the office.\n2 Where is Mary?\toffice\t2\n", 2, "supporting id 2"),
    ("1 Mary moved to the office.\n2 Where is Mary?\toffice\t1\tx\n", 2, "3 tab-separated"),
    ("1 Mary moved to the office.\n2 .\n", 2, "no words"),
    ("1 A.\n2 Where?\ta\t1\n3 Where?\ta\t2\n", 3, "supporting id 2"),  # a question, not a fact
])
def test_malformed_files_name_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "broken_qa.txt"
    path.write_text(text)
    with pytest.raises(BabiFormatError, match=message) as info:
        read_babi(path)
    assert "broken_qa.txt" in str(info.value) and f"line {line}:" in str(info.value)


def test_from_babi_without_questions_and_missing_file(tmp_path):
    path = tmp_path / "no_q.txt"
    path.write_text("1 Mary moved to the office.\n")
    with pytest.raises(BabiFormatError, match="no_q.txt has no questions"):
        StoryQA.from_babi(path)
    with pytest.raises(FileNotFoundError):
        read_babi(tmp_path / "absent.txt")


def test_dataloader_batches_are_padded_id_arrays():
    ds = StoryQA(50, task=2, seed=0)
    S, W = ds.max_sentences, ds.max_words
    assert (S, W, ds.max_support) == (16, 6, 2)
    one = ds[3]
    assert isinstance(one, EncodedQA) and one.story.shape == (S, W) and one.answer.shape == ()
    n = 0
    for b in DataLoader(ds, batch_size=16, shuffle=True):
        assert isinstance(b, EncodedQA)
        B = b.story.shape[0]
        assert b.story.shape == (B, S, W) and b.question.shape == (B, W)
        assert b.answer.shape == (B,) and b.supporting.shape == (B, 2)
        assert b.story.data.dtype == np.int64
        n += B
    assert n == len(ds)
    # a per-sample collate gives the same batch as the fast path
    idx = [0, 5, 9]
    slow, fast = default_collate([ds[i] for i in idx]), ds.__getitems__(idx)
    for s, f in zip(slow, fast):
        np.testing.assert_array_equal(s.data, f.data)
    # the ids decode back to the example's words; padding after the real sentences
    e, i = ds.examples[9], 9
    assert ds.decode(i) == ([" ".join(s) for s in e.story], " ".join(e.question), e.answer)
    assert (ds.story[i, len(e.story):] == ds.vocab.pad_id).all()


def test_vocabulary_is_plain_data_and_unknown_words(tmp_path):
    ds = StoryQA(20, task=1, seed=0)
    state = json.loads(json.dumps(ds.vocab.state_dict()))
    v = Vocabulary.from_state_dict(state)
    assert v == ds.vocab and v.pad_id == 0 and v.unk_id == 1
    path = tmp_path / "qa.txt"
    path.write_text("1 Zed moved to the attic.\n2 Where is Zed?\tattic\t1\n")
    other = StoryQA.from_babi(path, vocab=v)
    assert other.answer.tolist() == [v.unk_id]
    assert other.story[0, 0, 0] == v.unk_id and other.story[0, 0, 1] == v["moved"]


def test_memory_size_keeps_the_most_recent_sentences():
    full = StoryQA(30, task=1, seed=4)
    cut = StoryQA(30, task=1, seed=4, max_sentences=3)
    assert cut.story.shape[1:] == (3, full.max_words)
    for i, e in enumerate(full.examples):
        k = len(e.story)
        m = min(k, 3)
        assert cut.n_sentences[i] == m
        np.testing.assert_array_equal(cut.story[i, :m], full.story[i, k - m:k])
        j = e.supporting[0]
        assert cut.supporting[i, 0] == (j - (k - m) if j >= k - m else -1)
    with pytest.raises(ValueError, match="more than max_words=3"):
        StoryQA(5, task=1, max_words=3)
