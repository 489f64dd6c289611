"""The committed demo model declines what it cannot read (scoring.engine + scoring.ood).

Real engine, real statistics (models/demo/ood_stats.npz, fitted by `trainer ood fit`), real
vendor DICOMs from pydicom-data. The AUROC over many negatives is measured by
`python -m bench.abstention`; here, one of each and the contract around them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.engine import Engine
from scoring.imaging import load_scan
from tests import dicom_samples
from trainer import ood as negatives
from trainer.phantoms import generate

DEMO = Path(__file__).parents[2] / "models" / "demo"


@pytest.fixture(scope="module")
def demo():
    engine = Engine.load(DEMO, device="cpu")
    assert engine.ood_stats is not None, "models/demo must ship its OOD statistics"
    return engine


@pytest.mark.slow
def test_the_demo_model_assesses_fresh_phantoms_without_abstaining(demo):
    images = [generate(index=i, seed=4242, size=224)[0] for i in range(12)]
    images += [negatives.through_intake(im)[0] for im in images[:6]]
    results = demo.assess(images)
    abstained = [r for r in results if r.abstained]
    assert len(abstained) <= 1  # the threshold is the 99th percentile of held-out phantoms
    assert all(r.ood_score is not None for r in results)


@pytest.mark.parametrize(
    "kind", ["ct_like", "text_screen", "other_organ"], ids=["ct", "text-screen", "other-organ"]
)
def test_it_declines_an_image_unlike_its_training_data(demo, kind):
    image = negatives.through_intake(negatives.negatives(kind, 1, seed=5)[0])[0]
    [result] = demo.assess([image])
    assert result.abstained and result.needs_review
    assert result.ood_score > demo.ood_stats.threshold
    assert (result.structures, result.planes, result.deductions) == ([], [], [])
    assert result.score is None and result.grade is None


@pytest.mark.parametrize("name", ["US1_UNCR.dcm", "OBXXXX1A.dcm", "examples_ybr_color.dcm"])
@pytest.mark.slow
def test_it_declines_every_real_vendor_scan(demo, name):
    """Lymph-node Doppler, a probe in air, a cardiac clip: none is an abdominal phantom."""
    result = load_scan(dicom_samples.read(name))
    [assessment] = demo.assess([result.image])
    assert assessment.abstained, assessment.ood_score


def test_the_stream_says_abstain_and_nothing_else(demo):
    image = negatives.through_intake(negatives.negatives("ct_like", 1, seed=6)[0])[0]
    stream = demo.stream(image)
    events = list(stream)
    assert [e["type"] for e in events] == ["abstain"]
    assert "did not assess this image" in events[0]["reason"]
    assert events[0]["threshold"] == pytest.approx(demo.ood_stats.threshold, abs=1e-4)
    assert stream.assessment.abstained and stream.assessment.to_dict()["abstained"] is True


@pytest.mark.slow
def test_a_checkpoint_without_statistics_never_abstains(tmp_path):
    import shutil

    bare = tmp_path / "demo"
    shutil.copytree(DEMO, bare, ignore=shutil.ignore_patterns("ood_stats.npz", "eval"))
    engine = Engine.load(bare, device="cpu")
    image = negatives.through_intake(negatives.negatives("ct_like", 1, seed=5)[0])[0]
    [result] = engine.assess([image])
    assert engine.ood_stats is None and result.ood_score is None and not result.abstained
