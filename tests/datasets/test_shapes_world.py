"""ShapesWorld (src/chainrule/datasets/shapes_world.py): seeded Sort-of-CLEVR-style scenes. The
answers and captions are checked against the scene by code written here, independently of the
generator's own answer and caption code."""
import json
import re
import struct
import zlib

import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.datasets import ShapesWorld, Vocabulary
from chainrule.datasets.shapes_world import (ANSWERS, ShapesWorldBatch, ShapesWorldSample,
                                             caption_is_true, is_caption, save_png,
                                             true_captions)

RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "orange": (255, 156, 0),
       "gray": (128, 128, 128), "yellow": (255, 255, 0)}
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


@pytest.fixture(scope="module")
def train():
    return ShapesWorld(40, split="train", seed=3)


def objs(scene):
    """{colour: (shape, x, y)} of a scene."""
    return {o.colour: (o.shape, o.x, o.y) for o in scene.objects}


def my_answer_any(scene, text):
    """The answer to a question, parsed from its text and computed from the objects here."""
    o = objs(scene)
    mid = (scene.image_size - 1) / 2
    m = re.fullmatch(r"is the (\w+) object (on the left|at the top) \?", text)
    if m:
        c, where = m.groups()
        _, x, y = o[c]
        return "yes" if (x if where == "on the left" else y) < mid else "no"
    m = re.fullmatch(r"(.*)the (\w+) object \?", text)
    assert m, text
    head, c = m.groups()
    shape, x, y = o[c]
    others = [(s, (x - ox) ** 2 + (y - oy) ** 2) for k, (s, ox, oy) in o.items() if k != c]
    dists = np.array([d for _, d in others])
    if head == "what is the shape of ":
        return shape
    if head == "what is the shape of the object closest to ":
        assert (dists == dists.min()).sum() == 1  # unique by construction
        return others[int(dists.argmin())][0]
    if head == "what is the shape of the object farthest from ":
        assert (dists == dists.max()).sum() == 1
        return others[int(dists.argmax())][0]
    if head == "how many objects have the shape of ":
        return str(sum(s == shape for s, _, _ in o.values()))
    raise AssertionError(f"unknown question {text!r}")


def my_code(text):
    """Sort-of-CLEVR's 11-number question code, from the text."""
    colours = list(RGB)
    subtypes = ["what is the shape of the \\w+ object", "is the \\w+ object on the left",
                "is the \\w+ object at the top", "what is the shape of the object closest",
                "what is the shape of the object farthest", "how many objects"]
    v = np.zeros(11, np.float32)
    c = re.search(r"the (\w+) object (?:on the left |at the top )?\?$", text).group(1)
    v[colours.index(c)] = 1
    kind = [i for i, p in enumerate(subtypes) if re.match(p, text)]
    assert len(kind) == 1, text
    v[6 + kind[0] // 3] = 1
    v[8 + kind[0] % 3] = 1
    return v


class Missing(Exception):
    pass


def check_caption(scene, cap):
    """Whether a caption is true of the scene, by parsing it here."""
    try:
        return _check_caption(scene, cap)
    except Missing:  # names an object that is not in the scene
        return False


def _check_caption(scene, cap):
    o = objs(scene)
    mid = (scene.image_size - 1) / 2
    obj = r"(?:a|an) (\w+) (circle|square|triangle)"

    def get(c, s):
        if c not in o or o[c][0] != s:
            raise Missing(c, s)
        return o[c][1], o[c][2]

    m = re.fullmatch(rf"there is {obj} (on the left|on the right|at the top|at the bottom)", cap)
    if m:
        x, y = get(m.group(1), m.group(2))
        return {"on the left": x < mid, "on the right": x > mid, "at the top": y < mid,
                "at the bottom": y > mid}[m.group(3)]
    m = re.fullmatch(rf"{obj} (above|below|to the left of|to the right of) {obj}", cap)
    if m:
        (xa, ya), (xb, yb) = get(m.group(1), m.group(2)), get(m.group(4), m.group(5))
        return {"above": ya < yb, "below": ya > yb, "to the left of": xa < xb,
                "to the right of": xa > xb}[m.group(3)]
    m = re.fullmatch(rf"the object closest to the (\w+) (\w+) is {obj}", cap)
    if m:
        xa, ya = get(m.group(1), m.group(2))
        xb, yb = get(m.group(3), m.group(4))
        d = {k: (xa - x) ** 2 + (ya - y) ** 2 for k, (_, x, y) in o.items() if k != m.group(1)}
        return min(d.values()) == d[m.group(3)] and sorted(d.values())[1] > d[m.group(3)]
    m = re.fullmatch(r"there (?:is|are) (\w+) (circle|square|triangle)s?", cap)
    if m:
        n = sum(s == m.group(2) for s, _, _ in o.values())
        plural = cap.endswith("s")
        return NUMBERS[m.group(1)] == n and plural == (n > 1) and cap.startswith(
            "there are" if n > 1 else "there is")
    raise AssertionError(f"caption not in the grammar: {cap!r}")


def test_answers_rederived_from_the_scene(train):
    kinds, answers = set(), set()
    for i in range(len(train)):
        scene, q = train.scene(i), train.question(i)
        assert train.question_text(i) == q.text
        assert train.answer_text(i) == my_answer_any(scene, q.text), (q, scene)
        s = train[i]
        assert ANSWERS[s.answer] == train.answer_text(i)
        np.testing.assert_array_equal(s.question_code.data, my_code(q.text))
        assert s.relational == bool(my_code(q.text)[7])
        kinds.add(tuple(my_code(q.text)[6:]))
        answers.add(ANSWERS[s.answer])
    # every question type asked, half of each scene's questions relational, varied answers
    assert len(kinds) == 6 and {"yes", "no", "circle", "square", "triangle", "1", "2"} <= answers
    rel = [train[i].relational for i in range(train.questions_per_scene)]
    assert rel == [False] * 10 + [True] * 10


def test_every_caption_is_true(train):
    n = 0
    for k in range(train.num_scenes):
        caps = train.scene_captions(k)
        assert len(caps) == len(set(caps)) == train.captions_per_scene
        for c in caps:
            assert check_caption(train.scene_description(k), c), (c, train.scene_description(k))
            n += 1
    assert n == 200
    # the caption of item i is one of its scene's captions
    assert train.caption_text(3) in train.scene_captions(train.scene_index(3))


def test_caption_is_true_agrees_with_an_independent_check():
    ds = ShapesWorld(30, split="test", seed=5)
    pool = sorted({c for k in range(30) for c in true_captions(ds.scene_description(k))})
    assert all(is_caption(c) for c in pool)
    n_true = n_false = 0
    for k in range(30):
        sc = ds.scene_description(k)
        for c in pool[k::15]:  # captions of other scenes: some true here, most not
            t = caption_is_true(sc, c)
            assert t == check_caption(sc, c), (c, sc)
            n_true, n_false = n_true + t, n_false + (not t)
    assert n_true > 20 and n_false > 200
    for bad in ("a orange circle above a red square", "there are one circles",
                "there is a purple circle on the left", "a red circle"):
        assert not is_caption(bad)


def test_a_false_caption_is_caught():
    ds = ShapesWorld(1, seed=0)
    sc = ds.scene_description(0)
    o = sc.objects[0]
    side = "right" if 2 * o.x < sc.image_size - 1 else "left"
    art = "an" if o.colour == "orange" else "a"
    assert not check_caption(sc, f"there is {art} {o.colour} {o.shape} on the {side}")


def my_mask(shape, x, y, r, n):
    yy, xx = np.mgrid[0:n, 0:n]
    dx, dy = xx - x, yy - y
    if shape == "square":
        return (abs(dx) <= r) & (abs(dy) <= r)
    if shape == "circle":
        return dx ** 2 + dy ** 2 <= (r + 0.5) ** 2
    return (dy >= -r) & (dy <= r) & (abs(dx) <= (dy + r) / 2)


def test_scenes_objects_and_pixels(train):
    for k in range(train.num_scenes):
        sc = train.scene_description(k)
        n, r = sc.image_size, sc.radius
        assert 4 <= len(sc.objects) <= 6 and r == 5
        assert len({o.colour for o in sc.objects}) == len(sc.objects)
        img = train.scene_image(k)
        assert img.shape == (3, 64, 64) and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 1.0
        covered = np.zeros((n, n), int)
        for o in sc.objects:
            assert r <= o.x < n - r and r <= o.y < n - r  # inside the image
            m = my_mask(o.shape, o.x, o.y, r, n)
            covered += m
            col = np.array(RGB[o.colour], np.float32) / 255
            # the centre has the object's colour; all of its mask does, and nothing else does
            np.testing.assert_allclose(img[:, o.y, o.x], col)
            same = np.all(np.abs(img - col[:, None, None]) < 1e-6, axis=0)
            np.testing.assert_array_equal(same, m)
            # the shape, by two corners of its box: square both, triangle only the lower one
            lower, upper = same[o.y + r, o.x + r], same[o.y - r, o.x + r]
            assert (lower, upper) == {"square": (True, True), "triangle": (True, False),
                                      "circle": (False, False)}[o.shape]
        assert covered.max() <= 1  # no overlap
        np.testing.assert_array_equal(img[:, covered == 0], 1.0)  # white background


def test_deterministic_under_a_seed():
    a, b = ShapesWorld(12, seed=7), ShapesWorld(12, seed=7)
    short = ShapesWorld(5, seed=7)
    other = ShapesWorld(12, seed=8)
    for k in range(12):
        assert a.scene_description(k) == b.scene_description(k)
        assert a.scene_captions(k) == b.scene_captions(k)
        assert a.scene_questions(k) == b.scene_questions(k)
        np.testing.assert_array_equal(a.scene_image(k), b.scene_image(k))
    for k in range(5):  # the first scenes do not depend on num_scenes
        assert short.scene_description(k) == a.scene_description(k)
    assert [other.scene_description(k) for k in range(12)] != \
        [a.scene_description(k) for k in range(12)]
    ba, bb = a.__getitems__([0, 5, 77]), b.__getitems__([0, 5, 77])
    for x, y in zip(ba, bb):
        np.testing.assert_array_equal(x.data, y.data)


def key(scene):
    return tuple(sorted(scene.objects))


def test_train_and_test_scenes_are_disjoint():
    tr = [ShapesWorld(300, "train", seed=s) for s in (0, 1)]
    te = [ShapesWorld(300, "test", seed=s) for s in (0, 1)]
    tr_keys = {key(d.scene_description(k)) for d in tr for k in range(300)}
    te_keys = {key(d.scene_description(k)) for d in te for k in range(300)}
    assert len(tr_keys) == len(te_keys) == 600  # no repeats either
    assert not tr_keys & te_keys
    tr_img = {d.scene_image(k).tobytes() for d in tr[:1] for k in range(100)}
    te_img = {d.scene_image(k).tobytes() for d in te[:1] for k in range(100)}
    assert not tr_img & te_img


def test_vocabulary_round_trip(train):
    v = train.vocab
    assert isinstance(v, Vocabulary) and v.sep == " "
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    for i in range(0, len(train), 37):
        s = train[i]
        assert v.decode(s.caption) == train.caption_text(i)
        assert s.caption.data[0] == v.bos_id and s.caption.data[-1] == v.eos_id
        assert v.decode(s.question) == train.question_text(i)
    assert v.decode(v.encode("a purple circle".split())) == "a <unk> circle"
    state = json.loads(json.dumps(v.state_dict()))  # plain data, as in a checkpoint
    v2 = Vocabulary.from_state_dict(state)
    assert v2 == v and len(v2) == len(v)
    again = ShapesWorld(40, split="train", seed=3, vocab=v2)
    np.testing.assert_array_equal(again[5].question.data, train[5].question.data)
    with pytest.raises(ValueError, match="lacks words"):
        ShapesWorld(2, vocab=Vocabulary(["a", "red"], sep=" "))


def read_png(path):
    """A minimal reader of 8-bit RGB PNGs with filter 0 rows: (H, W, 3) uint8."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        (n,), tag = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(tag + body)
        if tag == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype = hdr[:4]
    assert (depth, ctype) == (8, 2)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_png(train, tmp_path):
    p = train.save_png(tmp_path / "scene.png", 0)
    img = read_png(p)
    ref = np.round(train.scene_image(train.scene_index(0)).transpose(1, 2, 0) * 255)
    np.testing.assert_array_equal(img, ref.astype(np.uint8))
    big = read_png(save_png(tmp_path / "big.png", train[0].image, scale=3))
    assert big.shape == (192, 192, 3)
    np.testing.assert_array_equal(big[::3, ::3], img)
    plt = pytest.importorskip("matplotlib.pyplot")
    np.testing.assert_allclose(plt.imread(str(p))[..., :3], img / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="save_png"):
        save_png(tmp_path / "bad.png", np.zeros((4, 5)))


def test_dataloader_batches(train):
    loader = DataLoader(train, batch_size=16, shuffle=True)
    assert len(loader) == 50
    seen = 0
    for b in loader:
        assert isinstance(b, ShapesWorldBatch)
        B = b.images.shape[0]
        assert b.images.shape == (B, 3, 64, 64) and b.images.dtype == np.float32
        assert b.captions.dtype == b.questions.dtype == b.answers.dtype == np.int64
        assert b.question_codes.shape == (B, 11) and b.relational.dtype == np.bool_
        for j in range(B):
            cl, ql = int(b.caption_lengths.data[j]), int(b.question_lengths.data[j])
            assert (b.captions.data[j, cl:] == 0).all() and b.captions.data[j, cl - 1] == 2
            assert (b.questions.data[j, ql:] == 0).all() and (b.questions.data[j, :ql] > 3).all()
        seen += B
    assert seen == len(train)
    idx = [3, 250, 799, 0]
    b = train.__getitems__(idx)
    samples = [train[i] for i in idx]
    assert all(isinstance(s, ShapesWorldSample) for s in samples)
    c = train.collate(samples)
    for x, y in zip(b, c):
        np.testing.assert_array_equal(x.data, y.data)
    for j, s in enumerate(samples):
        np.testing.assert_array_equal(b.images.data[j], s.image.data)
        assert b.answers.data[j] == s.answer and b.scene_indices.data[j] == idx[j] // 20
        np.testing.assert_array_equal(b.questions.data[j, :len(s.question.data)], s.question.data)


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        ShapesWorld(2, split="val")
    with pytest.raises(ValueError, match="num_objects"):
        ShapesWorld(2, num_objects=(4, 7))
    with pytest.raises(ValueError, match="object_size"):
        ShapesWorld(2, object_size=30)
    ds = ShapesWorld(2, questions_per_scene=4)
    assert len(ds) == 8
    with pytest.raises(IndexError, match="out of range for 8 items"):
        ds[8]


def test_other_sizes():
    ds = ShapesWorld(6, seed=1, image_size=75, num_objects=(6, 6), questions_per_scene=6)
    for k in range(6):
        sc = ds.scene_description(k)
        assert len(sc.objects) == 6 and ds.scene_image(k).shape == (3, 75, 75)
        for o in sc.objects:
            assert 2 * o.x != 74 and 2 * o.y != 74  # never on a middle line
        for q in ds.scene_questions(k):
            assert ANSWERS[q.answer] == my_answer_any(sc, q.text)
