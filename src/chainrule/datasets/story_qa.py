"""Question answering over stories: a seeded bAbI-style generator and a reader of the bAbI format.

notes 3.4 (memory with attention): each sentence of a story is encoded as a thought vector into a
memory; the question's vector attends over the memory by softmax and the weighted sum is decoded
into the answer. The bAbI tasks (Weston et al., 2015) are the usual benchmark; tasks 1 and 2 are
generated here:

- task 1, single supporting fact: people move between places; "Where is Mary?" -> the place of
  Mary's last move (one supporting sentence);
- task 2, two supporting facts: people also pick up and drop objects; "Where is the football?" ->
  the place of the person holding it, or where it was dropped (two supporting sentences: the last
  one about the football, and the last move before it -- or before the question -- of the person
  in it).

A story is a list of ``Line`` objects: statements, with questions interleaved; a question carries
its answer and the 0-based indices (in the story's lines) of its supporting statements. The bAbI
text format (``write_babi`` / ``read_babi``) numbers the lines of a story from 1::

    1 Mary moved to the bathroom.
    2 John went to the hallway.
    3 Where is Mary?<TAB>bathroom<TAB>1

``StoryQA`` is a ``Dataset`` with one example per question: the memory (the statements before it,
oldest first), the question, the answer and the supporting indices (into the memory).
``ds.examples[i]`` is the example as words (``QAExample``); ``ds[i]`` and DataLoader batches are
ids (``EncodedQA``): story int64 (S, W) padded with <pad>, question (W,), answer (), supporting
(K,) padded with -1, n_sentences (), with S = ``max_sentences``, W = ``max_words``.

>>> train = StoryQA(1000, task=2, seed=0, split="train")
>>> test = StoryQA(200, task=2, seed=0, split="test", vocab=train.vocab)
>>> b = next(iter(DataLoader(train, batch_size=32, shuffle=True)))
>>> b.story.shape, b.question.shape, b.answer.shape      # (32, S, W), (32, W), (32,)
"""
from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

import numpy as np

from ..data.dataset import Dataset
from ..tensor import Tensor
from .text import PAD, UNK, Vocabulary

PEOPLE = ("Mary", "John", "Sandra", "Daniel", "Bill", "Fred", "Julie", "Jeff")
PLACES = ("kitchen", "garden", "office", "bathroom", "hallway", "bedroom")
OBJECTS = ("football", "apple", "milk", "book", "box", "key")

# sentence templates: the person, then the verb phrase, then "the" and the place / object
MOVE_VERBS = ("moved to", "went to", "journeyed to", "travelled to", "went back to")
TAKE_VERBS = ("picked up", "got", "grabbed", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")

STORY_SPECIALS = (PAD, UNK)


class BabiFormatError(ValueError):
    """A bAbI file that does not follow the format; the message names the file and the line."""


class Line(NamedTuple):
    """One line of a story: a statement, or a question with its answer and supporting facts.

    ``tokens`` are the words without the final '.' or '?'; ``supporting`` are 0-based indices of
    earlier lines of the same story (bAbI's ids minus one)."""

    tokens: tuple
    answer: str | None = None
    supporting: tuple = ()

    @property
    def is_question(self):
        return self.answer is not None

    def text(self):
        return " ".join(self.tokens) + ("?" if self.is_question else ".")


class QAExample(NamedTuple):
    """One question with its memory, as words."""

    story: list  # the statements before the question, oldest first: lists of words
    question: list  # words
    answer: str
    supporting: tuple  # indices into ``story``


class EncodedQA(NamedTuple):
    """One example (or a batch: a leading B dimension on each) as int64 ids."""

    story: Tensor  # (S, W) word ids, <pad> after each sentence and after the last sentence
    question: Tensor  # (W,)
    answer: Tensor  # () id of the answer word
    supporting: Tensor  # (K,) indices of the supporting sentences in ``story``, -1 padded
    n_sentences: Tensor  # () number of real sentences in ``story``


def _ids(arr):
    return Tensor._make(np.asarray(arr, dtype=np.int64), False, None, 0)


# ---- generator --------------------------------------------------------------------------------

def _move(rng, people, places, state, lines):
    loc = state["loc"]
    p = people[rng.integers(len(people))]
    here = loc.get(p, (None, -1))[0]
    choices = [q for q in places if q != here] or list(places)
    place = choices[rng.integers(len(choices))]
    verb = MOVE_VERBS[rng.integers(len(MOVE_VERBS))]
    loc[p] = (place, len(lines))
    lines.append(Line(tuple(f"{p} {verb} the {place}".split())))


def _free_pairs(people, objects, state):
    """(person, object) pairs that may be picked up: the person's place is known and the object
    is not held, and either not yet seen or lying at that place."""
    loc, held, dropped = state["loc"], state["held"], state["dropped"]
    return [(p, o) for p in people if p in loc for o in objects
            if o not in held and (o not in dropped or dropped[o][0] == loc[p][0])]


def _take(rng, people, objects, state, lines):
    pairs = _free_pairs(people, objects, state)
    p, o = pairs[rng.integers(len(pairs))]
    verb = TAKE_VERBS[rng.integers(len(TAKE_VERBS))]
    there = " there" if rng.random() < 0.5 else ""
    state["held"][o] = (p, len(lines))
    state["dropped"].pop(o, None)
    lines.append(Line(tuple(f"{p} {verb} the {o}{there}".split())))


def _drop(rng, state, lines):
    held = state["held"]
    o = sorted(held)[rng.integers(len(held))]
    p = held.pop(o)[0]
    place, move_idx = state["loc"][p]
    verb = DROP_VERBS[rng.integers(len(DROP_VERBS))]
    there = " there" if rng.random() < 0.5 else ""
    state["dropped"][o] = (place, len(lines), move_idx)
    lines.append(Line(tuple(f"{p} {verb} the {o}{there}".split())))


def _ask(rng, task, people, objects, state, lines):
    loc, held, dropped = state["loc"], state["held"], state["dropped"]
    if task == 1:
        known = [p for p in people if p in loc]
        if not known:
            return
        p = known[rng.integers(len(known))]
        place, idx = loc[p]
        lines.append(Line(("Where", "is", p), place, (idx,)))
        return
    known = [o for o in objects if o in held or o in dropped]
    if not known:
        return
    o = known[rng.integers(len(known))]
    if o in held:
        p, take_idx = held[o]
        place, move_idx = loc[p]
        support = (take_idx, move_idx)
    else:
        place, drop_idx, move_idx = dropped[o]
        support = (drop_idx, move_idx)
    lines.append(Line(("Where", "is", "the", o), place, tuple(sorted(support))))


def _one_story(rng, task, people, places, objects, story_length, question_every):
    state = {"loc": {}, "held": {}, "dropped": {}}
    lines = []
    for n in range(1, story_length + 1):
        acts = ["move"]
        if task == 2:
            if _free_pairs(people, objects, state):
                acts.append("take")
            if state["held"]:
                acts.append("drop")
        # moves half the time, the object actions share the rest
        w = np.array([1.0 if a == "move" else 0.5 / (len(acts) - 1) for a in acts])
        if len(acts) > 1:
            w[0] = 0.5
        act = acts[rng.choice(len(acts), p=w / w.sum())]
        if act == "move":
            _move(rng, people, places, state, lines)
        elif act == "take":
            _take(rng, people, objects, state, lines)
        else:
            _drop(rng, state, lines)
        if n % question_every == 0:
            _ask(rng, task, people, objects, state, lines)
    return lines


def _story_hash(lines):
    text = "\n".join(ln.text() + (f"\t{ln.answer}" if ln.is_question else "") for ln in lines)
    h = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2.0 ** 64


def generate_stories(n_stories, task=1, seed=0, split="train", story_length=None,
                     question_every=2, n_people=4, n_places=6, n_objects=3, test_fraction=0.2):
    """``n_stories`` bAbI-style stories (lists of ``Line``), seeded and deterministic.

    Args:
        task: 1 (people move; "Where is Mary?", one supporting fact) or 2 (people also pick up and
            drop objects; "Where is the football?", two supporting facts).
        split: 'train' or 'test': each draws from its own seed stream (``SeedSequence([seed,
            0 or 1])``), and a fixed hash of a story's text puts ``test_fraction`` of all possible
            stories in the test split only, so the two splits never share a story.
        story_length: statements per story (default 10 for task 1, 16 for task 2).
        question_every: a question after every this many statements (skipped in task 2 while
            no object has been picked up yet). Stories without any question are redrawn.
        n_people, n_places, n_objects: how many of ``PEOPLE``, ``PLACES``, ``OBJECTS`` appear.
    """
    if task not in (1, 2):
        raise ValueError(f"StoryQA: task must be 1 or 2, got {task!r}")
    if split not in ("train", "test"):
        raise ValueError(f"StoryQA: split must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"StoryQA: test_fraction must be in (0, 1), got {test_fraction}")
    story_length = (10 if task == 1 else 16) if story_length is None else int(story_length)
    for name, v, hi in (("n_people", n_people, len(PEOPLE)), ("n_places", n_places, len(PLACES)),
                        ("n_objects", n_objects, len(OBJECTS))):
        if not 1 <= v <= hi:
            raise ValueError(f"StoryQA: {name} must be in 1..{hi}, got {v}")
    if story_length < 1 or question_every < 1:
        raise ValueError(f"StoryQA: story_length and question_every must be >= 1, got "
                         f"{story_length} and {question_every}")
    if question_every > story_length:
        raise ValueError(f"StoryQA: question_every ({question_every}) > story_length "
                         f"({story_length}) would ask no question")
    people, places, objects = PEOPLE[:n_people], PLACES[:n_places], OBJECTS[:n_objects]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(split == "test")]))
    want_test = split == "test"
    stories, tries, limit = [], 0, 100 * n_stories + 1000
    while len(stories) < n_stories:
        tries += 1
        if tries > limit:
            raise ValueError(f"StoryQA: could draw only {len(stories)} of {n_stories} {split} "
                             f"stories in {limit} tries; the configuration (task {task}, "
                             f"{n_people} people, {n_places} places, {n_objects} objects, "
                             f"length {story_length}) has too few distinct stories")
        lines = _one_story(rng, task, people, places, objects, story_length, question_every)
        if any(ln.is_question for ln in lines) and \
                (_story_hash(lines) < test_fraction) == want_test:
            stories.append(lines)
    return stories


def generator_vocabulary():
    """The fixed word vocabulary of the generator (<pad> 0, <unk> 1, then every word it can
    write, sorted): the same for every task, split, seed and size."""
    words = {"Where", "is", "the", "there"}
    for phrase in MOVE_VERBS + TAKE_VERBS + DROP_VERBS:
        words.update(phrase.split())
    words.update(PEOPLE + PLACES + OBJECTS)
    return Vocabulary(sorted(words), specials=STORY_SPECIALS, sep=" ")


# ---- the bAbI text format ---------------------------------------------------------------------

def write_babi(stories, path):
    """Write stories (lists of ``Line``) to ``path`` in the bAbI text format: ids from 1 in each
    story, questions as "id question?<TAB>answer<TAB>supporting ids" (1-based)."""
    out = []
    for s, lines in enumerate(stories):
        for i, ln in enumerate(lines):
            if not ln.tokens:
                raise ValueError(f"write_babi: line {i} of story {s} has no words")
            if ln.is_question:
                sup = " ".join(str(j + 1) for j in ln.supporting)
                out.append(f"{i + 1} {ln.text()}\t{ln.answer}\t{sup}")
            else:
                out.append(f"{i + 1} {ln.text()}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + ("\n" if out else ""))


def _tokens(text):
    return tuple(text.strip().rstrip(".?!").split())


def read_babi(path):
    """The stories of a bAbI text file, as lists of ``Line`` (supporting ids made 0-based).

    Raises ``BabiFormatError`` (a ValueError) naming the file and line for: a line without a
    leading positive integer id, an id that neither continues the story (previous + 1) nor
    starts a new one (1), a line without words, a question line without "question<TAB>answer"
    or with an empty answer, supporting ids that are not integers or do not name an earlier
    statement of the same story. Blank lines are skipped."""
    stories, lines = [], None
    with open(path, encoding="utf-8") as f:
        raw = f.read().splitlines()

    def fail(lineno, msg):
        raise BabiFormatError(f"read_babi: {os.fspath(path)}, line {lineno}: {msg}")

    for lineno, row in enumerate(raw, start=1):
        if not row.strip():
            continue
        head, _, rest = row.strip().partition(" ")
        if not head.isdigit() or int(head) < 1:
            fail(lineno, f"expected 'ID text' with ID a positive integer, got {row[:60]!r}")
        ident = int(head)
        if ident == 1:
            lines = []
            stories.append(lines)
        elif lines is None or ident != len(lines) + 1:
            fail(lineno, f"expected ID {1 if lines is None else len(lines) + 1} (or 1 to start "
                         f"a new story), got {ident}")
        fields = rest.split("\t")
        tokens = _tokens(fields[0])
        if not tokens:
            fail(lineno, f"line {ident} has no words")
        if len(fields) == 1:
            lines.append(Line(tokens))
            continue
        if len(fields) > 3:
            fail(lineno, f"expected 'question<TAB>answer<TAB>supporting ids' (3 tab-separated "
                         f"fields), got {len(fields)} fields")
        answer = fields[1].strip()
        if not answer:
            fail(lineno, "the question has an empty answer")
        sup_text = fields[2].split() if len(fields) == 3 else []
        if not all(t.isdigit() for t in sup_text):
            fail(lineno, f"expected supporting ids as integers, got {fields[2]!r}")
        support = tuple(int(t) - 1 for t in sup_text)
        for j in support:
            if not 0 <= j < len(lines) or lines[j].is_question:
                fail(lineno, f"supporting id {j + 1} does not name an earlier statement of "
                             f"this story (statements so far: "
                             f"{[k + 1 for k, ln in enumerate(lines) if not ln.is_question]})")
        lines.append(Line(tokens, answer, support))
    return stories


def stories_to_examples(stories):
    """One ``QAExample`` per question: the statements before it (its memory), the question,
    the answer, and the supporting indices mapped into the memory."""
    out = []
    for lines in stories:
        memory, where = [], {}
        for i, ln in enumerate(lines):
            if ln.is_question:
                out.append(QAExample([list(t) for t in memory], list(ln.tokens), ln.answer,
                                     tuple(where[j] for j in ln.supporting)))
            else:
                where[i] = len(memory)
                memory.append(ln.tokens)
    return out


# ---- the dataset ------------------------------------------------------------------------------

class StoryQA(Dataset):
    """bAbI-style question answering: one example per question of generated or read stories.

    Args:
        n_stories, task, seed, split, story_length, question_every, n_people, n_places,
            n_objects, test_fraction: as in ``generate_stories``.
        vocab: a word ``Vocabulary`` (e.g. the training set's, or one rebuilt by
            ``Vocabulary.from_state_dict`` from a checkpoint); default the generator's fixed
            vocabulary (<pad>, <unk>, every word it can write), so all splits share it.
        max_sentences: S, the memory size; a longer memory keeps its most recent S sentences
            (supporting facts cut off become -1). Default: the longest memory of the data.
        max_words: W, the longest sentence or question; longer ones are an error. Default:
            the longest of the data.
        max_support: K, the width of ``supporting`` (default: the most supporting facts of a
            question of the data).

    Attributes: ``stories`` (lists of ``Line``), ``examples`` (``QAExample``), ``vocab``, and the
    encoded arrays ``story`` (N, S, W), ``question`` (N, W), ``answer`` (N,), ``supporting``
    (N, K), ``n_sentences`` (N,), all int64. ``ds[i]`` is an ``EncodedQA`` of Tensors;
    ``__getitems__`` gives whole batches, so ``DataLoader(ds, batch_size=32)`` yields
    ``EncodedQA`` batches (story (B, S, W), ...).
    """

    def __init__(self, n_stories=1000, task=1, seed=0, split="train", story_length=None,
                 question_every=2, n_people=4, n_places=6, n_objects=3, test_fraction=0.2,
                 vocab=None, max_sentences=None, max_words=None, max_support=None):
        stories = generate_stories(n_stories, task, seed, split, story_length, question_every,
                                   n_people, n_places, n_objects, test_fraction)
        self.task, self.split = task, split
        self._setup(stories, generator_vocabulary() if vocab is None else vocab,
                    max_sentences, max_words, max_support)

    @classmethod
    def from_stories(cls, stories, vocab=None, max_sentences=None, max_words=None,
                     max_support=None):
        """A dataset of given stories (lists of ``Line``); the vocabulary by default is built
        from their words and answers (<pad> 0, <unk> 1, then sorted)."""
        self = cls.__new__(cls)
        self.task, self.split = None, None
        if vocab is None:
            words = set()
            for lines in stories:
                for ln in lines:
                    words.update(ln.tokens)
                    if ln.is_question:
                        words.add(ln.answer)
            vocab = Vocabulary(sorted(words), specials=STORY_SPECIALS, sep=" ")
        self._setup(stories, vocab, max_sentences, max_words, max_support)
        return self

    @classmethod
    def from_babi(cls, path, vocab=None, max_sentences=None, max_words=None, max_support=None):
        """A dataset of a bAbI text file (e.g. ``qa1_single-supporting-fact_train.txt``). For the
        test file pass the training set's ``vocab`` (and its ``max_sentences``, ``max_words``,
        ``max_support`` for arrays of the same shapes); unknown words become <unk>."""
        stories = read_babi(path)
        if not any(ln.is_question for lines in stories for ln in lines):
            raise BabiFormatError(f"StoryQA.from_babi: {os.fspath(path)} has no questions")
        return cls.from_stories(stories, vocab, max_sentences, max_words, max_support)

    def _setup(self, stories, vocab, max_sentences, max_words, max_support):
        if not isinstance(vocab, Vocabulary) or PAD not in vocab:
            raise TypeError(f"StoryQA: vocab must be a Vocabulary with a {PAD} token, got "
                            f"{vocab!r}")
        self.stories = stories
        self.vocab = vocab
        self.examples = ex = stories_to_examples(stories)
        longest = max([len(e.question) for e in ex] +
                      [len(s) for e in ex for s in e.story] + [1])
        S = max([len(e.story) for e in ex] + [1]) if max_sentences is None else int(max_sentences)
        W = longest if max_words is None else int(max_words)
        K = max([len(e.supporting) for e in ex] + [1]) if max_support is None \
            else int(max_support)
        if S < 1 or W < 1 or K < 1:
            raise ValueError(f"StoryQA: max_sentences, max_words and max_support must be >= 1, "
                             f"got {S}, {W}, {K}")
        if longest > W:
            raise ValueError(f"StoryQA: a sentence or question has {longest} words, more than "
                             f"max_words={W}")
        N, pad = len(ex), vocab.pad_id
        story = np.full((N, S, W), pad, dtype=np.int64)
        question = np.full((N, W), pad, dtype=np.int64)
        answer = np.empty(N, dtype=np.int64)
        supporting = np.full((N, K), -1, dtype=np.int64)
        n_sent = np.empty(N, dtype=np.int64)
        for n, e in enumerate(ex):
            cut = max(0, len(e.story) - S)  # the oldest sentences that do not fit
            for r, sent in enumerate(e.story[cut:]):
                story[n, r, :len(sent)] = vocab.encode(sent)
            n_sent[n] = len(e.story) - cut
            question[n, :len(e.question)] = vocab.encode(e.question)
            answer[n] = vocab.encode([e.answer])[0]
            sup = [j - cut if j >= cut else -1 for j in e.supporting]
            if len(sup) > K:
                raise ValueError(f"StoryQA: a question has {len(sup)} supporting facts, more "
                                 f"than max_support={K}")
            supporting[n, :len(sup)] = sup
        self.story, self.question, self.answer = story, question, answer
        self.supporting, self.n_sentences = supporting, n_sent
        self.max_sentences, self.max_words, self.max_support = S, W, K

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"StoryQA: index {i} is out of range for {n} examples")
        return EncodedQA(_ids(self.story[i]), _ids(self.question[i]), _ids(self.answer[i]),
                         _ids(self.supporting[i]), _ids(self.n_sentences[i]))

    def __getitems__(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        return EncodedQA(_ids(self.story[idx]), _ids(self.question[idx]), _ids(self.answer[idx]),
                         _ids(self.supporting[idx]), _ids(self.n_sentences[idx]))

    def decode(self, i):
        """Example ``i`` as text from its ids: (story sentences, question, answer)."""
        v = self.vocab
        return ([v.decode(r) for r in self.story[i][:self.n_sentences[i]]],
                v.decode(self.question[i]), v.decode(self.answer[i:i + 1]))

    def __repr__(self):
        what = f"task {self.task}, split={self.split!r}, " if self.task else ""
        return (f"StoryQA({len(self)} questions in {len(self.stories)} stories, {what}"
                f"vocab {len(self.vocab)}, S={self.max_sentences}, W={self.max_words})")
