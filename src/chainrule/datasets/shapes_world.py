"""ShapesWorld: a seeded Sort-of-CLEVR-style generator of scenes, captions and questions.

notes 3.4 takes the encoder-decoder beyond text: a CNN's thought vector of an image is decoded
into a caption, or joined with a question's thought vector and decoded into an answer. No such
data set can be downloaded here, so this module draws one (after Santoro et al. 2017,
"A simple neural network module for relational reasoning", the Sort-of-CLEVR task):

- a **scene** is 4-6 objects of distinct colours from the palette (red, green, blue, orange, gray,
  yellow), each a circle, square or triangle of one fixed size, at non-overlapping positions on a
  white background; rendered as float32 RGB (3, H, W) in [0, 1] with NumPy masks;
- **captions** are true facts from a small grammar: "there is a red circle on the left",
  "there is a blue square at the bottom", "a red circle above a blue square",
  "an orange triangle to the left of a gray circle", "the object closest to the red circle is a
  blue square", "there are two squares" / "there is one triangle";
- **questions** about one object X (named by its colour), as text and as Sort-of-CLEVR's 11-number
  code (6 colour one-hot, 2 kind one-hot [non-relational, relational], 3 subtype one-hot):

  ==========  =======  ============================================================  ========
  kind        subtype  text                                                          answers
  ==========  =======  ============================================================  ========
  non-rel.    0        what is the shape of the X object ?                           shape
  non-rel.    1        is the X object on the left ?                                 yes / no
  non-rel.    2        is the X object at the top ?                                  yes / no
  relational  0        what is the shape of the object closest to the X object ?     shape
  relational  1        what is the shape of the object farthest from the X object ?  shape
  relational  2        how many objects have the shape of the X object ?             1 ... 6
  ==========  =======  ============================================================  ========

  answers are indices into ``ANSWERS`` (yes, no, circle, square, triangle, 1, ..., 6).

Geometry: pixel (row i, column j) is the point (x=j, y=i), y growing downwards. An object with
centre (x, y) and half-size r = object_size // 2 covers: square |dx| <= r and |dy| <= r; circle
dx^2 + dy^2 <= r^2 + r (a disc of radius r + 1/2); triangle (apex up) -r <= dy <= r and
|dx| <= (dy + r) / 2. "On the left" means x < (W - 1) / 2, "at the top" y < (H - 1) / 2 (no
centre lies on a middle line); "A above B" means y_A < y_B; distances are Euclidean between
centres, and no scene has a tie for an object's closest or farthest neighbour, so every answer
is unique.

Splits: every scene is drawn from its own generator, seeded by (seed, split, index), so the first
k scenes do not depend on ``num_scenes``; a scene belongs to 'train' or 'test' by a fixed hash of
its content (colours, shapes, centres), and a draw that falls in the other split is drawn again,
so no scene of the train split can appear in the test split, whatever the seeds.

Items: ``len(ds) == num_scenes * questions_per_scene``; item i is question i % Q of scene i // Q
(the first half of each scene's questions non-relational, the rest relational) together with
the scene's image and its caption number (i % Q) % captions_per_scene. ``ds[i]`` is a
``ShapesWorldSample``; ``DataLoader(ds, batch_size, shuffle=True)`` yields ``ShapesWorldBatch``
(captions and questions padded with <pad>) through ``__getitems__``.

``caption_is_true(scene, text)`` scores a generated caption against a scene (it is true when it
is a sentence of the grammar, ``is_caption(text)``, stating one of ``true_captions(scene)``).

>>> train = ShapesWorld(1000, split="train", seed=0)
>>> s = train[0]
>>> s.image.shape, train.question_text(0), train.answer_text(0)    # (3, 64, 64), 'is the ...', 'no'
>>> train.scene(0).objects[0]          # ShapeObject(colour='red', shape='circle', x=12, y=40)
>>> vocab = Vocabulary.from_state_dict(train.vocab.state_dict())   # saved with a checkpoint
>>> train.save_png("scene0.png", 0, scale=4)
"""
from __future__ import annotations

import hashlib
import os
import re
import struct
import zlib
from typing import NamedTuple

import numpy as np

from ..data.dataset import Dataset
from ..tensor import Tensor
from .seq_tasks import pad_sequences
from .text import Vocabulary

COLOURS = ("red", "green", "blue", "orange", "gray", "yellow")
PALETTE = {  # RGB in [0, 255], as in Sort-of-CLEVR
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
    "orange": (255, 156, 0), "gray": (128, 128, 128), "yellow": (255, 255, 0)}
SHAPES = ("circle", "square", "triangle")
ANSWERS = ("yes", "no", "circle", "square", "triangle", "1", "2", "3", "4", "5", "6")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
QUESTION_TEMPLATES = (
    ("what is the shape of the {c} object ?",
     "is the {c} object on the left ?",
     "is the {c} object at the top ?"),
    ("what is the shape of the object closest to the {c} object ?",
     "what is the shape of the object farthest from the {c} object ?",
     "how many objects have the shape of the {c} object ?"),
)
QUESTION_CODE_SIZE = len(COLOURS) + 2 + 3
BACKGROUND = 1.0


class ShapeObject(NamedTuple):
    """One object of a scene: its colour, shape and integer centre (x = column, y = row)."""

    colour: str
    shape: str
    x: int
    y: int


class Scene(NamedTuple):
    """The description of an image: its objects (in drawing order), image size and half-size."""

    objects: tuple
    image_size: int
    radius: int

    def find(self, colour):
        """The object of the given colour (each colour occurs at most once)."""
        for o in self.objects:
            if o.colour == colour:
                return o
        raise KeyError(f"Scene.find: no {colour!r} object in this scene (colours: "
                       f"{[o.colour for o in self.objects]})")


class Question(NamedTuple):
    """A question about the object of colour ``colour``: kind 0 non-relational / 1 relational,
    subtype 0-2 (see the module's table), its text and the index of its answer in ANSWERS."""

    kind: int
    subtype: int
    colour: str
    text: str
    answer: int


class ShapesWorldSample(NamedTuple):
    image: Tensor  # (3, H, W) float32 in [0, 1]
    caption: Tensor  # (Lc,) int64: <bos> words <eos>
    question: Tensor  # (Lq,) int64: words
    question_code: Tensor  # (11,) float32, Sort-of-CLEVR's encoding
    answer: int  # index into ANSWERS
    relational: bool
    scene_index: int


class ShapesWorldBatch(NamedTuple):
    images: Tensor  # (B, 3, H, W) float32
    captions: Tensor  # (B, Lc) int64, <bos> words <eos> then <pad>
    caption_lengths: Tensor  # (B,) int64, with <bos> and <eos>
    questions: Tensor  # (B, Lq) int64, padded with <pad>
    question_lengths: Tensor  # (B,) int64
    question_codes: Tensor  # (B, 11) float32
    answers: Tensor  # (B,) int64
    relational: Tensor  # (B,) bool
    scene_indices: Tensor  # (B,) int64


def _tensor(arr):
    return Tensor._make(np.ascontiguousarray(arr), False, None, 0)


# ---- the grammar's words --------------------------------------------------------------------

def _plural(shape):
    return shape + "s"


def _all_words():
    words = set()
    fills = list(COLOURS)
    for group in QUESTION_TEMPLATES:
        for t in group:
            for c in fills:
                words.update(t.format(c=c).split())
    words.update(COLOURS)
    words.update(SHAPES)
    words.update(_plural(s) for s in SHAPES)
    words.update(NUMBER_WORDS[1:])
    words.update("there is are a an on the left right at top bottom above below to of object "
                 "closest farthest from".split())
    words.update(a for a in ANSWERS)
    return sorted(words)


def build_vocab():
    """The word ``Vocabulary`` of every caption, question and answer the grammar can produce
    (<pad> 0, <bos> 1, <eos> 2, <unk> 3, then the words sorted; ``sep=" "``)."""
    return Vocabulary(_all_words(), sep=" ")


# ---- scenes ---------------------------------------------------------------------------------

def default_object_size(image_size):
    """11 pixels for 64x64 images, scaled with the image (odd, at least 5 where it fits)."""
    return max(3, min(max(5, int(round(image_size * 11 / 64)) | 1), 2 * int(image_size) // 7 - 2))


def _scene_key(objects):
    return np.array([(COLOURS.index(o.colour), SHAPES.index(o.shape), o.x, o.y)
                     for o in sorted(objects, key=lambda o: COLOURS.index(o.colour))],
                    dtype=np.int64).tobytes()


def scene_in_test_split(scene):
    """Whether a scene belongs to the test split: a fixed hash of its content below one half."""
    h = hashlib.blake2b(_scene_key(scene.objects) + struct.pack("<q", scene.image_size),
                        digest_size=8).digest()
    return int.from_bytes(h, "little") < 2 ** 63


def _unique_extremes(xy):
    """True when no object has a tie for its nearest or farthest other object."""
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    n = len(xy)
    for i in range(n):
        others = np.delete(d[i], i)
        if (others == others.min()).sum() > 1 or (others == others.max()).sum() > 1:
            return False
    return True


def _draw_objects(rng, image_size, radius, n_objects, gap):
    lo, hi = radius + 1, image_size - 2 - radius  # a pixel of margin
    min_sep = 2 * radius + 1 + gap  # Chebyshev distance between centres: boxes `gap` apart
    while True:
        pts = []
        for _ in range(n_objects):
            for _ in range(200):
                x, y = (int(v) for v in rng.integers(lo, hi + 1, size=2))
                if 2 * x == image_size - 1 or 2 * y == image_size - 1:
                    continue  # on a middle line: neither left nor right
                if all(max(abs(x - px), abs(y - py)) >= min_sep for px, py in pts):
                    pts.append((x, y))
                    break
            else:
                break
        if len(pts) == n_objects:
            return pts


def generate_scene(rng, image_size=64, object_size=None, num_objects=(4, 6), gap=2):
    """A random scene from ``rng`` (a numpy Generator): distinct colours, random shapes,
    non-overlapping boxes (at least ``gap`` pixels apart), no ties of nearest/farthest objects."""
    object_size = default_object_size(image_size) if object_size is None else int(object_size)
    radius = object_size // 2
    lo_n, hi_n = num_objects
    while True:
        n = int(rng.integers(lo_n, hi_n + 1))
        colours = rng.permutation(len(COLOURS))[:n]
        shapes = rng.integers(0, len(SHAPES), size=n)
        pts = _draw_objects(rng, image_size, radius, n, gap)
        if not _unique_extremes(np.array(pts, dtype=np.int64)):
            continue
        objects = tuple(ShapeObject(COLOURS[c], SHAPES[s], x, y)
                        for c, s, (x, y) in zip(colours, shapes, pts))
        return Scene(objects, int(image_size), radius)


def object_mask(shape, x, y, radius, image_size):
    """(H, W) bool mask of one object (see the module's geometry)."""
    yy, xx = np.mgrid[0:image_size, 0:image_size]
    dx, dy = xx - x, yy - y
    if shape == "square":
        return (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius + radius  # (r + 1/2)^2, rounded
    if shape == "triangle":
        return (dy >= -radius) & (dy <= radius) & (2 * np.abs(dx) <= dy + radius)
    raise ValueError(f"object_mask: shape must be one of {SHAPES}, got {shape!r}")


def render(scene):
    """The scene's image: float32 (3, H, W) in [0, 1], objects on a white background."""
    s = scene.image_size
    img = np.full((3, s, s), BACKGROUND, dtype=np.float32)
    for o in scene.objects:
        m = object_mask(o.shape, o.x, o.y, scene.radius, s)
        img[:, m] = (np.array(PALETTE[o.colour], dtype=np.float32) / 255.0)[:, None]
    return img


# ---- facts: answers and captions ------------------------------------------------------------

def _left(o, scene):
    return 2 * o.x < scene.image_size - 1


def _top(o, scene):
    return 2 * o.y < scene.image_size - 1


def _dist2(a, b):
    return (a.x - b.x) ** 2 + (a.y - b.y) ** 2


def _closest(o, scene):
    return min((p for p in scene.objects if p is not o), key=lambda p: _dist2(o, p))


def _farthest(o, scene):
    return max((p for p in scene.objects if p is not o), key=lambda p: _dist2(o, p))


def answer(scene, kind, subtype, colour):
    """The index in ANSWERS of the answer to question (kind, subtype) about the ``colour``
    object (kind 0 non-relational, 1 relational; subtype 0-2 as in the module's table)."""
    o = scene.find(colour)
    if kind == 0:
        if subtype == 0:
            return ANSWERS.index(o.shape)
        yes = _left(o, scene) if subtype == 1 else _top(o, scene)
        return ANSWERS.index("yes" if yes else "no")
    if subtype == 0:
        return ANSWERS.index(_closest(o, scene).shape)
    if subtype == 1:
        return ANSWERS.index(_farthest(o, scene).shape)
    return ANSWERS.index(str(sum(p.shape == o.shape for p in scene.objects)))


def question_code(kind, subtype, colour):
    """Sort-of-CLEVR's fixed-length encoding: float32 (11,) = colour one-hot (6), kind one-hot
    (2: non-relational, relational), subtype one-hot (3)."""
    v = np.zeros(QUESTION_CODE_SIZE, dtype=np.float32)
    v[COLOURS.index(colour)] = 1
    v[len(COLOURS) + kind] = 1
    v[len(COLOURS) + 2 + subtype] = 1
    return v


def make_question(scene, kind, subtype, colour):
    return Question(kind, subtype, colour, QUESTION_TEMPLATES[kind][subtype].format(c=colour),
                    answer(scene, kind, subtype, colour))


def _name(o):
    return f"{o.colour} {o.shape}"


def _a(o):
    """The object with its indefinite article: 'a red circle', 'an orange square'."""
    return f"{'an' if o.colour[0] in 'aeiou' else 'a'} {_name(o)}"


CAPTION_KINDS = ("horizontal", "vertical", "above_below", "left_right", "closest", "count")


def caption_facts(scene, kind):
    """Every true caption of one kind (see CAPTION_KINDS) about the scene."""
    objs = scene.objects
    if kind == "horizontal":
        return [f"there is {_a(o)} on the {'left' if _left(o, scene) else 'right'}"
                for o in objs]
    if kind == "vertical":
        return [f"there is {_a(o)} at the {'top' if _top(o, scene) else 'bottom'}"
                for o in objs]
    out = []
    if kind in ("above_below", "left_right"):
        for a in objs:
            for b in objs:
                if a is b:
                    continue
                if kind == "above_below" and a.y != b.y:
                    out.append(f"{_a(a)} {'above' if a.y < b.y else 'below'} {_a(b)}")
                if kind == "left_right" and a.x != b.x:
                    side = "left" if a.x < b.x else "right"
                    out.append(f"{_a(a)} to the {side} of {_a(b)}")
        return out
    if kind == "closest":
        return [f"the object closest to the {_name(o)} is {_a(_closest(o, scene))}"
                for o in objs]
    if kind == "count":
        for s in SHAPES:
            n = sum(o.shape == s for o in objs)
            if n == 1:
                out.append(f"there is one {s}")
            elif n > 1:
                out.append(f"there are {NUMBER_WORDS[n]} {_plural(s)}")
        return out
    raise ValueError(f"caption_facts: kind must be one of {CAPTION_KINDS}, got {kind!r}")


def true_captions(scene):
    """The set of every true caption of the scene that the grammar can state."""
    return {c for kind in CAPTION_KINDS for c in caption_facts(scene, kind)}


_OBJ = r"an? (?:" + "|".join(COLOURS) + r") (?:" + "|".join(SHAPES) + r")"
_CAPTION_RE = re.compile("|".join([
    rf"there is {_OBJ} (?:on the (?:left|right)|at the (?:top|bottom))",
    rf"{_OBJ} (?:above|below|to the left of|to the right of) {_OBJ}",
    rf"the object closest to the (?:{'|'.join(COLOURS)}) (?:{'|'.join(SHAPES)}) is {_OBJ}",
    rf"there is one (?:{'|'.join(SHAPES)})",
    rf"there are (?:{'|'.join(NUMBER_WORDS[2:])}) (?:{'|'.join(_plural(s) for s in SHAPES)})"]))


def is_caption(text):
    """Whether ``text`` (words separated by single spaces) is a sentence of the caption grammar
    (true or not of any scene; articles must agree: 'an orange', 'a red')."""
    if not _CAPTION_RE.fullmatch(text):
        return False
    return all((w == "an") == (n[0] in "aeiou") for w, n in zip(text.split(), text.split()[1:])
               if w in ("a", "an"))


def caption_is_true(scene, text):
    """Whether ``text`` states a true fact about the scene: a grammatical caption (``is_caption``)
    that is among ``true_captions(scene)``. For scoring generated captions against the scene."""
    return text in true_captions(scene)


def sample_captions(rng, scene, k):
    """``k`` distinct true captions: a caption kind drawn uniformly, then one of its facts."""
    pools = {kind: caption_facts(scene, kind) for kind in CAPTION_KINDS}
    kinds = [kind for kind in CAPTION_KINDS if pools[kind]]
    total = sum(len(pools[kind]) for kind in kinds)
    chosen = []
    while len(chosen) < min(k, total):
        kind = kinds[int(rng.integers(len(kinds)))]
        c = pools[kind][int(rng.integers(len(pools[kind])))]
        if c not in chosen:
            chosen.append(c)
    return chosen


# ---- PNG ------------------------------------------------------------------------------------

def _png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(
        ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def save_png(path, image, scale=1):
    """Write an RGB image as an 8-bit PNG (zlib from the standard library; no other dependency).

    Args:
        image: float (3, H, W) in [0, 1] (a Tensor or array), or uint8 (H, W, 3).
        scale: each pixel becomes a scale x scale block (nearest neighbour).
    """
    arr = image.data if isinstance(image, Tensor) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.dtype != np.uint8:
        arr = np.round(np.clip(arr.transpose(1, 2, 0), 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"save_png: expected a float (3, H, W) image in [0, 1] or uint8 "
                         f"(H, W, 3), got {arr.dtype} {arr.shape}")
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"save_png: scale must be >= 1, got {scale}")
    if scale > 1:
        arr = arr.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w, _ = arr.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), arr.reshape(h, w * 3)], axis=1)  # filter 0
    png = (b"\x89PNG\r\n\x1a\n"
           + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
           + _png_chunk(b"IEND", b""))
    path = os.fspath(path)
    with open(path, "wb") as f:
        f.write(png)
    return path


# ---- the dataset ----------------------------------------------------------------------------

_SPLIT_IDS = {"train": 0, "test": 1}


class ShapesWorld(Dataset):
    """Sort-of-CLEVR-style scenes with captions and questions (see the module docstring).

    Args:
        num_scenes: how many scenes (images).
        split: 'train' or 'test'; the two never share a scene.
        seed: the seed; scene k of a split is drawn from ``default_rng([seed, split, k])``.
        image_size: H = W of the images (default 64).
        object_size: the side of a square (the diameter of a circle, base and height of a
            triangle) in pixels; half-size r = object_size // 2 and the drawn side is 2r + 1,
            so an even value draws one pixel more; default 11 for 64x64 images.
        num_objects: (min, max) objects per scene, within 3..6 (default (4, 6)).
        questions_per_scene: Q questions per scene, the first Q // 2 non-relational, the rest
            relational, each about a random object of the scene with a random subtype.
        captions_per_scene: distinct true captions per scene.
        vocab: a word ``Vocabulary`` (e.g. one restored from a checkpoint); by default
            ``build_vocab()``, the same for every split and seed.

    ``ds[i]`` -> ``ShapesWorldSample``; ``ds.__getitems__(indices)`` / ``ds.collate(samples)`` ->
    ``ShapesWorldBatch``. ``ds.scene(i)``, ``ds.question(i)``, ``ds.caption_text(i)`` give the
    item's scene description, Question and caption; ``ds.scene_captions(k)`` and
    ``ds.scene_questions(k)`` those of scene k.
    """

    def __init__(self, num_scenes=1000, split="train", seed=0, image_size=64, object_size=None,
                 num_objects=(4, 6), questions_per_scene=20, captions_per_scene=5, vocab=None):
        if split not in _SPLIT_IDS:
            raise ValueError(f"ShapesWorld: split must be 'train' or 'test', got {split!r}")
        num_objects = tuple(int(n) for n in num_objects)
        if len(num_objects) != 2 or not 1 <= num_objects[0] <= num_objects[1] <= len(COLOURS):
            raise ValueError(f"ShapesWorld: num_objects must be (min, max) with 1 <= min <= max "
                             f"<= {len(COLOURS)}, got {num_objects}")
        if num_objects[0] < 3:
            raise ValueError(f"ShapesWorld: num_objects needs at least 3 objects per scene (a "
                             f"closest and a farthest other object), got {num_objects}")
        object_size = default_object_size(image_size) if object_size is None else int(object_size)
        max_size = 2 * int(image_size) // 7 - 2  # room to scatter 6 objects quickly
        if not 3 <= object_size <= max_size:
            raise ValueError(f"ShapesWorld: object_size {object_size} does not suit "
                             f"{image_size}x{image_size} images (need 3 <= object_size "
                             f"<= {max_size})")
        if num_scenes < 0 or questions_per_scene < 1 or captions_per_scene < 1:
            raise ValueError(f"ShapesWorld: need num_scenes >= 0, questions_per_scene >= 1 and "
                             f"captions_per_scene >= 1, got {num_scenes}, {questions_per_scene}, "
                             f"{captions_per_scene}")
        self.num_scenes = int(num_scenes)
        self.split = split
        self.seed = int(seed)
        self.image_size = int(image_size)
        self.object_size = object_size
        self.num_objects = num_objects
        self.questions_per_scene = int(questions_per_scene)
        self.captions_per_scene = int(captions_per_scene)
        self.vocab = build_vocab() if vocab is None else vocab
        missing = [w for w in _all_words() if w not in self.vocab]
        if missing:
            raise ValueError(f"ShapesWorld: the vocabulary lacks words of the grammar: "
                             f"{missing[:10]}")
        self.answers = ANSWERS
        self._cache = [None] * self.num_scenes

    # -- scenes, drawn lazily and kept ----------------------------------------------------

    def _entry(self, k):
        if not -self.num_scenes <= k < self.num_scenes:
            raise IndexError(f"ShapesWorld: scene index {k} is out of range for "
                             f"{self.num_scenes} scenes")
        k %= self.num_scenes
        e = self._cache[k]
        if e is None:
            rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], k])
            want_test = self.split == "test"
            while True:
                scene = generate_scene(rng, self.image_size, self.object_size, self.num_objects)
                if scene_in_test_split(scene) == want_test:
                    break
            captions = sample_captions(rng, scene, self.captions_per_scene)
            qs = []
            n_nonrel = self.questions_per_scene // 2
            for q in range(self.questions_per_scene):
                kind = 0 if q < n_nonrel else 1
                o = scene.objects[int(rng.integers(len(scene.objects)))]
                qs.append(make_question(scene, kind, int(rng.integers(3)), o.colour))
            v = self.vocab
            e = {"scene": scene, "captions": captions, "questions": qs,
                 "caption_ids": [v.encode(c.split(), add_bos=True, add_eos=True)
                                 for c in captions],
                 "question_ids": [v.encode(q.text.split()) for q in qs]}
            self._cache[k] = e
        return e

    def scene_description(self, k):
        """The ``Scene`` of scene k (not item k; see ``scene``)."""
        return self._entry(k)["scene"]

    def scene_captions(self, k):
        """The caption strings of scene k."""
        return list(self._entry(k)["captions"])

    def scene_questions(self, k):
        """The ``Question`` list of scene k."""
        return list(self._entry(k)["questions"])

    def scene_image(self, k):
        """float32 (3, H, W) image of scene k."""
        return render(self._entry(k)["scene"])

    # -- items ----------------------------------------------------------------------------

    def __len__(self):
        return self.num_scenes * self.questions_per_scene

    def _split_index(self, i):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"ShapesWorld: index {i} is out of range for {n} items "
                             f"({self.num_scenes} scenes x {self.questions_per_scene} questions)")
        i = int(i) % n
        k, q = divmod(i, self.questions_per_scene)
        return k, q, q % len(self._entry(k)["captions"])

    def scene_index(self, i):
        """The scene index of item i."""
        return self._split_index(i)[0]

    def scene(self, i):
        """The ``Scene`` of item i: its objects (colour, shape, centre), to re-derive answers."""
        return self._entry(self._split_index(i)[0])["scene"]

    def question(self, i):
        k, q, _ = self._split_index(i)
        return self._entry(k)["questions"][q]

    def question_text(self, i):
        return self.question(i).text

    def answer_text(self, i):
        return ANSWERS[self.question(i).answer]

    def caption_text(self, i):
        k, _, c = self._split_index(i)
        return self._entry(k)["captions"][c]

    def _sample_arrays(self, i):
        k, q, c = self._split_index(i)
        e = self._entry(k)
        qu = e["questions"][q]
        return (render(e["scene"]), e["caption_ids"][c], e["question_ids"][q],
                question_code(qu.kind, qu.subtype, qu.colour), qu.answer, bool(qu.kind), k)

    def __getitem__(self, i):
        img, cap, qst, code, ans, rel, k = self._sample_arrays(i)
        return ShapesWorldSample(_tensor(img), _tensor(np.array(cap, dtype=np.int64)),
                                 _tensor(np.array(qst, dtype=np.int64)), _tensor(code), ans, rel,
                                 k)

    def __getitems__(self, indices):
        return self._collate_arrays([self._sample_arrays(i) for i in indices])

    def _collate_arrays(self, rows):
        if not rows:
            raise ValueError("ShapesWorld.collate: got an empty list of samples")
        img, cap, qst, code, ans, rel, k = zip(*rows)
        pad = self.vocab.pad_id
        caps, cap_len = pad_sequences(cap, pad)
        qsts, q_len = pad_sequences(qst, pad)
        return ShapesWorldBatch(_tensor(np.stack(img)), _tensor(caps), _tensor(cap_len),
                                _tensor(qsts), _tensor(q_len), _tensor(np.stack(code)),
                                _tensor(np.array(ans, dtype=np.int64)),
                                _tensor(np.array(rel, dtype=np.bool_)),
                                _tensor(np.array(k, dtype=np.int64)))

    def collate(self, samples):
        """A ``ShapesWorldBatch`` from a list of ``ShapesWorldSample`` (for a custom loader)."""
        rows = []
        for s in samples:
            if not isinstance(s, ShapesWorldSample):
                raise TypeError(f"ShapesWorld.collate: expected ShapesWorldSample items, got "
                                f"{type(s).__name__}")
            rows.append((s.image.data, s.caption.data.tolist(), s.question.data.tolist(),
                         s.question_code.data, s.answer, s.relational, s.scene_index))
        return self._collate_arrays(rows)

    # -- output ---------------------------------------------------------------------------

    def save_png(self, path, i, scale=1):
        """Write item i's image (scene ``scene_index(i)``) to ``path`` as PNG; returns the path."""
        return save_png(path, render(self.scene(i)), scale=scale)

    def __repr__(self):
        return (f"ShapesWorld({self.num_scenes} scenes x {self.questions_per_scene} questions, "
                f"split={self.split!r}, seed={self.seed}, {self.image_size}x{self.image_size}, "
                f"vocab {len(self.vocab)} words)")
