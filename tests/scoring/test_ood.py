"""The out-of-distribution score (scoring.ood): pure numpy, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from scoring import ood


def _gaussian(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(dim, dim))
    return rng.normal(size=(n, dim)) @ basis * 0.3 + 5.0


def test_the_median_held_out_reference_scores_one_and_the_threshold_is_its_quantile():
    feats = _gaussian(500, 12, 0)
    stats = ood.fit(feats, rank=4, quantile=0.9, seed=1)
    order = np.random.default_rng(1).permutation(500)
    held = stats.score(feats[order[:100]])
    assert np.median(held) == pytest.approx(1.0, rel=1e-9)
    assert stats.threshold == pytest.approx(np.quantile(held, 0.9), rel=1e-9)
    assert (held > stats.threshold).mean() == pytest.approx(0.1, abs=0.011)


def test_far_images_score_far_above_the_threshold_and_near_ones_below():
    feats = _gaussian(400, 10, 2)
    stats = ood.fit(feats, rank=3)
    fresh = _gaussian(200, 10, 2)[:50]  # same distribution (same basis seed), new draws
    shifted = fresh + 3 * feats.std(axis=0)  # three standard deviations off in every feature
    assert (stats.score(fresh) < stats.threshold).mean() >= 0.9
    assert (stats.score(shifted) > 5 * stats.threshold).all()


def test_each_group_is_scored_alone_and_the_largest_wins():
    """A small group that moves must not be outvoted by a large group that does not."""
    feats = _gaussian(300, 40, 3)
    stats = ood.fit(feats, bounds=(0, 38, 40), rank=5)
    probe = feats[:1].copy()
    probe[0, 38:] += 20 * feats[:, 38:].std(axis=0)
    one_group = ood.fit(feats, rank=5)
    assert stats.score(probe)[0] > stats.threshold
    assert stats.score(probe)[0] > 5 * one_group.score(probe)[0] / one_group.threshold


def test_a_feature_that_never_moved_gets_a_small_tolerance_not_a_division_by_zero():
    feats = _gaussian(200, 6, 4)
    feats[:, 2] = 0.0  # colour on grey phantoms
    stats = ood.fit(feats, rank=2)
    grey, coloured = feats[:1].copy(), feats[:1].copy()
    coloured[0, 2] = 1.0
    assert np.isfinite(stats.score(grey)).all()
    assert stats.score(coloured)[0] > 100 * stats.score(grey)[0]


def test_statistics_round_trip_through_their_file(tmp_path):
    feats = _gaussian(120, 8, 5)
    stats = ood.fit(feats, bounds=(0, 5, 8), rank=3)
    stats.save(tmp_path)
    back = ood.OodStats.load(tmp_path)
    assert back is not None and back.bounds == (0, 5, 8)
    np.testing.assert_allclose(back.score(feats[:10]), stats.score(feats[:10]))
    assert back.threshold == stats.threshold and back.n_fit + back.n_holdout == 120
    assert ood.OodStats.load(tmp_path / "nothing-here") is None


def test_statistics_of_another_checkpoint_are_refused():
    stats = ood.fit(_gaussian(50, 8, 6), rank=2)
    with pytest.raises(ValueError, match="another checkpoint"):
        stats.score(np.zeros((1, 9)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantile": 1.0}, "quantile"),
        ({"bounds": (0, 3)}, "bounds"),
        ({"bounds": (0, 5, 4, 8)}, "bounds"),
    ],
)
def test_bad_fit_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ood.fit(_gaussian(50, 8, 7), **kwargs)


def test_too_few_references_are_refused():
    with pytest.raises(ValueError, match="at least 20"):
        ood.fit(_gaussian(10, 4, 8))


def test_summarise_lays_out_tokens_layers_and_pixels_in_its_bounds():
    rng = np.random.default_rng(9)
    tokens = rng.normal(size=(6, 4))  # a 2 x 3 grid of 4-channel tokens
    layers = [rng.normal(size=(24, 3)), rng.normal(size=(24, 3))]
    pixels = rng.normal(size=(24, 3, 2, 14, 14))
    vec = ood.summarise(tokens, (2, 3), layers, pixels)
    bounds = ood.feature_bounds(4, [3, 3], pixels=True)
    assert vec.shape == (bounds[-1],) and bounds == (0, 24, 30, 36, 60)
    np.testing.assert_allclose(vec[:4], tokens.mean(axis=0))
    np.testing.assert_allclose(vec[8:12], tokens.reshape(2, 3, 4)[:1, :1].mean(axis=(0, 1)))
    flipped = ood.summarise(tokens[::-1], (2, 3), layers, pixels)
    assert not np.allclose(flipped[8:24], vec[8:24])  # quadrants see an upside-down image
    np.testing.assert_allclose(flipped[:8], vec[:8])  # the plain mean and std cannot
    with pytest.raises(ValueError, match="2x3 grid"):
        ood.summarise(tokens[:5], (2, 3))


def test_auroc_matches_its_definition():
    assert ood.auroc([0, 1, 2], [3, 4]) == 1.0
    assert ood.auroc([3, 4], [0, 1, 2]) == 0.0
    assert ood.auroc([1, 2], [1, 2]) == 0.5  # ties count half
    assert ood.auroc([0, 2], [1, 3]) == 0.75
