"""Out-of-distribution score: does this image look like what the model was trained on?

A model that was trained on one kind of image answers every image in the same confident voice,
so the answer's own token probabilities cannot say "I have never seen anything like this" (a
probe-in-air obstetric frame came back as an abdominal plane at 0.997). The vision tower can:
its features for an unfamiliar image fall far from where the training images put them.

Score. For each image we summarise what the vision tower sees as groups of numbers: the visual
tokens the language model reads (the merger's output: channel mean, standard deviation and the
four quadrant means of the token grid, so an upside-down sector moves the vector), the patch
embedding and up to four blocks of the tower (channel mean and standard deviation: texture that
the last layer has abstracted away), and the processor's own pixels (histogram, roughness,
share of black, colour). Each group's distribution over reference images like the training ones is a
Gaussian with a low-rank-plus-isotropic covariance (probabilistic PCA: the top ``k`` principal
directions with their own variances, one variance for the rest). A group's score is its squared
Mahalanobis distance per dimension, divided by the median over held-out reference images; the
image's score is the largest group score, so 1 is a typical training-like image. PPCA rather
than a full covariance because a 2B model's groups reach 9,216 numbers, whose covariance could
be neither stored nor estimated from a few thousand images; rather than k-NN because the
statistics are a few MB that travel with the checkpoint and scoring is a few matrix products;
rather than an energy score of the answer's tokens because those are exactly what is
over-confident on foreign images.

Threshold. The statistics are fitted on 80 % of the reference images and the threshold is the
``quantile`` (default 99 %) of the scores of the other 20 %: about 1 in 100 images like the
training ones is abstained, and the held-out scores are honest where in-sample ones would be
optimistic in high dimension.

Pure numpy: the engine extracts the tokens with torch and calls :func:`summarise`; ``trainer``
fits the statistics; the web never needs this module.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STATS_FILE = "ood_stats.npz"  # next to the checkpoint; abvlmq.json says how it was made
DEFAULT_QUANTILE = 0.99
DEFAULT_RANK = 64
PIXEL_FEATURES = 24
CONSTANT_SCALE = 0.05  # a feature constant over the references may move this much


def summarise(
    tokens: np.ndarray,
    grid: tuple[int, int],
    layers: Sequence[np.ndarray] = (),
    pixels: np.ndarray | None = None,
) -> np.ndarray:
    """One image's features as a vector.

    ``tokens`` (T, d) are the merger's output, row-major on ``grid`` (h, w): their channel mean,
    standard deviation and four quadrant means (6 d). ``layers`` are earlier activations of the
    tower (each (P, e): the patch embedding, some blocks), summarised by channel mean and
    standard deviation (2 e each), which see texture where the last layer has abstracted it away.
    """
    h, w = grid
    t = np.asarray(tokens, np.float64)
    if t.ndim != 2 or t.shape[0] != h * w:
        raise ValueError(f"expected {h * w} tokens for a {h}x{w} grid, got {t.shape}")
    g = t.reshape(h, w, -1)  # (h, w, d)
    hs = [slice(0, max(1, h // 2)), slice(h // 2, h)]
    ws = [slice(0, max(1, w // 2)), slice(w // 2, w)]
    quads = [g[a, b].reshape(-1, g.shape[2]).mean(axis=0) for a in hs for b in ws]  # 4 x (d,)
    parts = [t.mean(axis=0), t.std(axis=0), *quads]
    for layer in layers:
        a = np.asarray(layer, np.float64)
        parts += [a.mean(axis=0), a.std(axis=0)]
    if pixels is not None:
        parts.append(_pixel_statistics(np.asarray(pixels, np.float64)))
    return np.concatenate(parts)


def _pixel_statistics(patches: np.ndarray) -> np.ndarray:
    """(P, C, T, p, p) normalised patches -> 24 numbers (see :func:`summarise`)."""
    first = patches[:, :, 0]  # (P, C, p, p): first frame
    g = first.mean(axis=1)  # (P, p, p): channels averaged
    spread_c = first.max(axis=1) - first.min(axis=1)  # (P, p, p): 0 for grey pixels
    v = g.ravel()
    lo, hi = np.percentile(v, [0.5, 99.5])
    hist = np.histogram(np.clip(v, lo, hi), bins=16, range=(v.min(), v.max() + 1e-9))[0]
    spread = v.std() + 1e-6
    dx = np.abs(np.diff(g, axis=2)).mean() / spread
    dy = np.abs(np.diff(g, axis=1)).mean() / spread
    dark = (v <= v.min() + 0.05 * (v.max() - v.min() + 1e-9)).mean()
    skew = (((v - v.mean()) / spread) ** 3).mean()
    kurt = (((v - v.mean()) / spread) ** 4).mean()
    colour = (spread_c > 0.35).mean()  # about 20 of 255 levels apart at the demo's std
    features = [dx, dy, dark, skew, kurt, v.mean(), colour, spread_c.mean()]
    return np.concatenate([hist / v.size, features])


@dataclass(frozen=True)
class _Ppca:
    """A Gaussian with low-rank-plus-isotropic covariance over one group of features."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,) per-feature standard deviation (features are standardised first)
    components: np.ndarray  # (k, D) orthonormal principal directions
    variances: np.ndarray  # (k,) variance along each
    residual: float  # variance of what the k directions leave, per remaining dimension
    norm: float  # raw scores are divided by this: the held-out reference images' median

    def score(self, f: np.ndarray) -> np.ndarray:
        z = (f - self.mean) / self.scale  # (N, D)
        proj = z @ self.components.T  # (N, k)
        inside = (proj**2 / self.variances).sum(axis=1)
        rest = np.maximum((z**2).sum(axis=1) - (proj**2).sum(axis=1), 0.0)
        return (inside + rest / self.residual) / self.mean.shape[0] / self.norm

    @classmethod
    def fit(cls, train: np.ndarray, hold: np.ndarray, rank: int) -> _Ppca:
        n, dim = train.shape
        mean = train.mean(axis=0)
        scale = train.std(axis=0)
        # a feature that never moved (colour on grey phantoms) gets a small fixed tolerance, so
        # an image where it does move is far away rather than a division by zero
        scale = np.where(scale > 1e-9, scale, CONSTANT_SCALE)
        z = (train - mean) / scale  # (n, D)
        k = int(min(rank, max(dim - 1, 1), max(1, n // 10)))
        # Thin SVD of the centred data: its right singular vectors are the principal directions.
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        var = s**2 / max(n - 1, 1)  # (min(n, D),)
        residual = float(var[k:].sum() / max(dim - k, 1))
        residual = max(residual, 1e-3 * float(var[0]))  # never divide by an empty remainder
        raw = cls(mean, scale, vt[:k], np.maximum(var[:k], residual), residual, 1.0)
        norm = max(float(np.median(raw.score(hold))), 1e-12)
        return cls(mean, scale, vt[:k], np.maximum(var[:k], residual), residual, norm)


@dataclass(frozen=True)
class OodStats:
    """Fitted statistics of the reference features, and the abstention threshold.

    Features come in groups (the merger's tokens, each tower layer, the pixels: ``bounds``
    gives their column ranges). Each group has its own Gaussian, its score normalised so the
    median held-out reference image scores 1, and an image's score is the largest of its group
    scores: a CT slice may look ordinary to the last layer and still be far off in its pixels,
    and one group of 22 numbers must not be outvoted by 2,000 others.
    """

    bounds: tuple[int, ...]  # group g is columns bounds[g]:bounds[g + 1]
    groups: tuple[_Ppca, ...]
    threshold: float  # scores above this abstain
    quantile: float
    n_fit: int
    n_holdout: int

    @property
    def dim(self) -> int:
        return int(self.bounds[-1])

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores of (N, D) feature vectors: (N,), 1 for a typical reference image."""
        f = np.atleast_2d(np.asarray(features, np.float64))
        if f.shape[1] != self.dim:
            raise ValueError(
                f"these statistics are for {self.dim} features, got {f.shape[1]}: "
                "they belong to another checkpoint"
            )
        per_group = [
            g.score(f[:, a:b])
            for g, a, b in zip(self.groups, self.bounds[:-1], self.bounds[1:], strict=True)
        ]
        return np.max(np.stack(per_group), axis=0)

    def abstains(self, score: float) -> bool:
        return bool(score > self.threshold)

    # ----------------------------------------------------------------- files

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / STATS_FILE
        arrays: dict[str, np.ndarray] = {
            "bounds": np.array(self.bounds),
            "scalars": np.array([self.threshold, self.quantile]),
            "counts": np.array([self.n_fit, self.n_holdout]),
        }
        for i, g in enumerate(self.groups):
            arrays |= {
                f"g{i}_mean": g.mean,
                f"g{i}_scale": g.scale,
                f"g{i}_components": g.components,
                f"g{i}_variances": g.variances,
                f"g{i}_scalars": np.array([g.residual, g.norm]),
            }
        np.savez(path, **arrays)
        return path

    def info(self) -> dict:
        """What goes into the checkpoint's abvlmq.json under ``"ood"``."""
        return {
            "file": STATS_FILE,
            "feature": "merger tokens (mean, std, quadrant means), tower layers (mean, std), "
            "pixel statistics; one PPCA per group, score = max of normalised group scores",
            "groups": len(self.groups),
            "dim": self.dim,
            "threshold": round(float(self.threshold), 6),
            "quantile": self.quantile,
            "n_fit": self.n_fit,
            "n_holdout": self.n_holdout,
        }

    @classmethod
    def load(cls, folder: str | Path) -> OodStats | None:
        """The statistics stored with a checkpoint, or None when it has none."""
        path = Path(folder) / STATS_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            bounds = tuple(int(v) for v in z["bounds"])
            groups = []
            for i in range(len(bounds) - 1):
                residual, norm = (float(v) for v in z[f"g{i}_scalars"])
                groups.append(
                    _Ppca(
                        z[f"g{i}_mean"],
                        z[f"g{i}_scale"],
                        z[f"g{i}_components"],
                        z[f"g{i}_variances"],
                        residual,
                        norm,
                    )
                )
            threshold, quantile = (float(v) for v in z["scalars"])
            n_fit, n_holdout = (int(v) for v in z["counts"])
        return cls(bounds, tuple(groups), threshold, quantile, n_fit, n_holdout)


def fit(
    features: np.ndarray,
    *,
    bounds: Sequence[int] | None = None,
    rank: int = DEFAULT_RANK,
    quantile: float = DEFAULT_QUANTILE,
    holdout: float = 0.2,
    seed: int = 0,
) -> OodStats:
    """Fit the statistics on reference features (N, D) and set the threshold on a held-out part.

    ``bounds``: the column ranges of the feature groups (default: one group).
    """
    f = np.asarray(features, np.float64)
    n, dim = f.shape
    if n < 20:
        raise ValueError(f"need at least 20 reference images to fit OOD statistics, got {n}")
    if not 0.5 <= quantile < 1:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile}")
    cuts = tuple(bounds) if bounds is not None else (0, dim)
    if cuts[0] != 0 or cuts[-1] != dim or list(cuts) != sorted(set(cuts)):
        raise ValueError(f"bounds {cuts} do not split {dim} features into groups")
    order = np.random.default_rng(seed).permutation(n)
    n_hold = max(5, round(n * holdout))
    hold, train = f[order[:n_hold]], f[order[n_hold:]]
    groups = tuple(
        _Ppca.fit(train[:, a:b], hold[:, a:b], rank) for a, b in itertools.pairwise(cuts)
    )
    stats = OodStats(cuts, groups, 0.0, quantile, len(train), n_hold)
    threshold = float(np.quantile(stats.score(hold), quantile))
    return OodStats(cuts, groups, threshold, quantile, len(train), n_hold)


def feature_bounds(d: int, layer_dims: Sequence[int], pixels: bool) -> tuple[int, ...]:
    """The group boundaries of :func:`summarise`'s vector."""
    sizes = [6 * d, *(2 * e for e in layer_dims)] + ([PIXEL_FEATURES] if pixels else [])
    return tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of a score that should be higher for ``positives`` (OOD).

    Mann-Whitney U with ties counted half: the chance that a random OOD image scores above a
    random in-distribution one.
    """
    neg = np.asarray(negatives, np.float64)
    pos = np.asarray(positives, np.float64)
    if neg.size == 0 or pos.size == 0:
        raise ValueError("AUROC needs both in-distribution and out-of-distribution scores")
    allv = np.concatenate([neg, pos])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    i = 0
    while i < len(allv):  # average ranks over ties
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(neg) * len(pos)))


def write_info(folder: str | Path, stats: OodStats, **extra: object) -> None:
    """Record the statistics in the checkpoint's abvlmq.json (merging with what is there)."""
    path = Path(folder) / "abvlmq.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data["ood"] = {**stats.info(), **extra}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
