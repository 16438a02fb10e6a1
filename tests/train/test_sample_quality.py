"""chainrule.train.sample_quality: the Frechet distance and the LeNet-5 sample scorer."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.models import lenet5
from chainrule.train.checkpoint import make_checkpoint, save_checkpoint
from chainrule.train.sample_quality import (SampleScorer, frechet_distance,
                                            gaussian_frechet_distance, load_classifier,
                                            split_halves)


def _gauss(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ mix + shift


def test_zero_for_identical_sets():
    a = _gauss(300, 6, 0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, a[::-1].copy()) == pytest.approx(0.0, abs=1e-9)  # order-free


def test_closed_form_for_diagonal_covariances():
    mu_a, mu_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    got = gaussian_frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-12)  # 1 + 6.25 + 4 + 1 = 12.25
    assert got == pytest.approx(12.25, rel=1e-12)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert gaussian_frechet_distance([2.0], [[4.0]], [-1.0], [[1.0]]) == pytest.approx(10.0)


def test_full_covariances_match_the_eigenvalues_of_the_product():
    # Tr (S_a S_b)^{1/2} = sum of the square roots of the (real, >= 0) eigenvalues of S_a S_b
    a, b = _gauss(500, 5, 1), _gauss(400, 5, 2, shift=0.3)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    lam = np.linalg.eigvals(sa @ sb)
    assert np.abs(lam.imag).max() < 1e-10
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb)
                - 2 * np.sum(np.sqrt(np.clip(lam.real, 0, None))))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_symmetric_and_grows_with_a_mean_shift():
    a, b = _gauss(400, 4, 3), _gauss(350, 4, 4)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    u = np.array([1.0, -2.0, 0.5, 0.0])
    prev = 0.0
    for t in (0.5, 1.0, 2.0, 4.0):
        d = frechet_distance(a, a + t * u)  # same covariance: exactly t^2 |u|^2
        assert d == pytest.approx(t ** 2 * (u @ u), rel=1e-9)
        assert d > prev
        prev = d


def test_accepts_tensors_and_rejects_bad_inputs():
    a = _gauss(50, 3, 5).astype(np.float32)
    assert frechet_distance(cr.tensor(a), a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match=r"different sizes: \(50, 3\) and \(50, 2\)"):
        frechet_distance(a, a[:, :2])
    with pytest.raises(ValueError, match=r"feats_b of shape \(N, d\) with N >= 2.*\(1, 3\)"):
        frechet_distance(a, a[:1])
    bad = a.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        frechet_distance(bad, a)
    with pytest.raises(ValueError, match=r"mu_a, mu_b of shape \(d,\)"):
        gaussian_frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def _scorer(value_range=(-1.0, 1.0), **kw):
    cr.manual_seed(0)
    return SampleScorer(lenet5(), value_range=value_range, batch_size=4, **kw)


def test_scorer_features_labels_and_score_on_tiny_inputs():
    scorer = _scorer()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (7, 1, 28, 28)).astype(np.float32)
    y = rng.uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    feats, logits = scorer.features_and_logits(x)
    assert feats.shape == (7, 84) and logits.shape == (7, 10) and feats.dtype == np.float64
    assert (feats >= 0).all()  # the ReLU after FC 84
    # the same images flat, as (N, 28, 28), or in [0, 1] with value_range (0, 1)
    assert np.allclose(scorer.features(x.reshape(7, 784)), feats, atol=1e-6)
    assert np.allclose(scorer.features(x[:, 0]), feats, atol=1e-6)
    same = SampleScorer(scorer.classifier, value_range=(0, 1))
    assert np.allclose(same.features((x + 1) / 2), feats, atol=1e-5)
    # the features are the classifier's own penultimate activations
    with cr.no_grad():
        direct = scorer.classifier.classifier[:4](
            cr.flatten(scorer.classifier.features(cr.tensor((((x + 1) / 2 - 0.2860) / 0.3530)
                                                            .astype(np.float32))), 1)).numpy()
    assert np.allclose(direct, feats, atol=1e-5)
    res = scorer.score(x, y)
    assert set(res) >= {"frechet", "label_histogram", "modes_covered", "real_label_histogram",
                        "label_tv"}
    hist = np.array(res["label_histogram"])
    assert hist.shape == (10,) and hist.sum() == pytest.approx(1.0)
    assert np.allclose(hist, np.bincount(scorer.predict(x), minlength=10) / 7)
    assert res["modes_covered"] == int((hist >= 0.01).sum()) and 1 <= res["modes_covered"] <= 7
    assert res["frechet"] > 0 and res["n_generated"] == 7 and res["n_real"] == 6
    assert scorer.score(x, x)["frechet"] == pytest.approx(0.0, abs=1e-6)
    assert scorer.score(x, x)["label_tv"] == 0.0


def test_scorer_leaves_the_classifier_mode_and_checks_its_inputs():
    scorer = _scorer(layer="classifier.1")
    scorer.classifier.train()
    assert scorer.features(np.zeros((2, 784), np.float32)).shape == (2, 120)
    assert scorer.classifier.training  # restored after the eval-mode pass
    with pytest.raises(ValueError, match=r"no layer 'classifier.9'.*features.0"):
        SampleScorer(scorer.classifier, layer="classifier.9")
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\).*got shape \(2, 3, 28, 28\)"):
        scorer.features(np.zeros((2, 3, 28, 28)))
    with pytest.raises(ValueError, match="value_range must be"):
        SampleScorer(scorer.classifier, value_range=(1, 1))
    with pytest.raises(TypeError, match="chainrule Module, got str"):
        SampleScorer("lenet")
    with pytest.raises(ValueError, match="at least 2 generated"):
        scorer.score(np.zeros((1, 784)), np.zeros((3, 784)))


def test_load_classifier_round_trip(tmp_path):
    cr.manual_seed(3)
    net = lenet5()
    path = tmp_path / "lenet.ckpt"
    save_checkpoint(make_checkpoint(net, epoch=1, config={"recipe": "lenet5"}), path)
    back = load_classifier(path)
    assert not back.training
    x = cr.randn(3, 1, 28, 28)
    net.eval()
    with cr.no_grad():
        assert np.allclose(back(x).numpy(), net(x).numpy())
    other = tmp_path / "other.ckpt"
    save_checkpoint(make_checkpoint(lenet5(num_classes=4), config={"recipe": "x"}), other)
    with pytest.raises(ValueError, match="not those of a LeNet-5"):
        load_classifier(other)


def test_split_halves_are_disjoint_and_seeded():
    a, b = split_halves(10, 4)
    assert len(a) == len(b) == 4 and not set(a) & set(b)
    a2, b2 = split_halves(10, 4)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    order = np.random.default_rng(0).permutation(10)
    assert np.array_equal(a, order[:4]) and np.array_equal(b, order[4:8])
    with pytest.raises(ValueError, match="1 <= n <= count / 2, got n=6 and count=10"):
        split_halves(10, 6)
