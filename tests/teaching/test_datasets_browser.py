"""Dataset versions and training runs in Chromium against a real server (daphne, a subprocess
on the test database, with the Redis channel layer), issue 33's items 4-6 as a program admin
meets them, at 1280 and 390 px, every page axe-core clean (WCAG 2.1 A and AA, no serious or
critical violation) and none scrolling sideways on the phone:

Pat freezes a version from a campaign's final records on the datasets page; its page shows the
counts per split, plane and grade and the export; an invalid recipe is refused on the page
with the trainer's message; a valid one is queued and its page opens. The run's page follows
the run live over its websocket: the worker's progress (written and pushed by the same
functions the training worker calls, ``training.progress_of`` and ``events.push_run``, here
from the test; a real worker's pushes are tested in test_training_runs.py) shows its step,
loss, learning curve and time left without a reload; the Cancel button asks the worker to stop
and the page shows the run cancelled when the worker ends it (``training.run_execute``, the
task's body). A finished run that measures worse than the model in force says so in bold on
its page, with the figures that went down, and so does the model registry beside Activate.

Screenshots for docs/data.md are written to docs/screenshots/datasets_*.png.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from abvlmq_web.administration.services import model_register
from abvlmq_web.datasets.events import push_run
from abvlmq_web.datasets.models import DatasetVersion, TrainingRun
from abvlmq_web.datasets.training import compare_reports, progress_of, run_execute
from tests.teaching.test_browser_flows import log_in, server  # noqa: F401
from tests.teaching.test_dataset_versions import add_finals, make_campaign
from tests.teaching.test_training_runs import training_queue  # noqa: F401
from tests.web.a11y import axe_violations, horizontal_overflow
from tests.web.conftest import Wait
from tests.web.live import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]
DOCS = ROOT / "docs" / "screenshots"
DEMO_REPORT = ROOT / "models" / "demo" / "eval" / "report.json"


@pytest.fixture
def browser(fresh_browser):
    """The browser tests' shared Chromium, reset for the test (tests/web/conftest.py)."""
    return fresh_browser


def check_page(browser, name: str, problems: dict) -> None:
    """axe-core at the current width; at 390 px the sideways scroll too."""
    found = axe_violations(browser)
    if found:
        problems[f"{name} axe"] = found
    if browser.get_window_size()["width"] < 500:
        over = horizontal_overflow(browser)
        if over:
            problems[f"{name} at 390 px"] = over


def both_widths(browser, url: str, name: str, problems: dict, ready=None) -> None:
    for width, height in ((390, 844), (1280, 900)):
        browser.set_window_size(width, height)
        browser.get(url)
        if ready:
            Wait(browser, 20).until(ready)
        check_page(browser, f"{name} ({width} px)", problems)


def screenshot(browser, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(DOCS / f"datasets_{name}.png"))


def text(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def js_round(x: float) -> int:
    """Math.round: halves up (Python's round takes them to the even number)."""
    return math.floor(x + 0.5)


def worse_comparison() -> dict:
    """The demo model's own report as the model in force, and a copy with three figures down
    as the new model: the new one measures worse."""
    active = json.loads(DEMO_REPORT.read_text(encoding="utf-8"))
    new = copy.deepcopy(active)
    new["planes"]["label_accuracy"] = active["planes"]["label_accuracy"] - 0.2
    new["detection"]["f1"] = active["detection"]["f1"] - 0.1
    new["grades"]["accuracy"] = active["grades"]["accuracy"] - 0.15
    comparison = compare_reports(new, active) | {"active_model": "the settings' model"}
    assert comparison["verdict"] == "worse"
    return {"new": new, "comparison": comparison}


def test_versions_and_a_run_followed_live_cancelled_and_a_worse_model_said_plainly(
    server,  # noqa: F811
    browser,
    people,
    training_queue,  # noqa: F811
):
    wait = Wait(browser, 30)
    pat = people["program_admin"]
    campaign = make_campaign(
        pat, people["instructor"], people["resident"], people["other_resident"]
    )
    add_finals(campaign, people["resident"], 18)
    problems: dict = {}

    # The datasets page: freeze v1 from the campaign.
    log_in(browser, server, "pat")
    both_widths(browser, f"{server}/datasets/", "datasets", problems)
    browser.find_element(By.CSS_SELECTOR, f"input[name=campaigns][value='{campaign.pk}']").click()
    browser.find_element(By.CSS_SELECTOR, "#freeze-form input[name=name]").send_keys("v1")
    browser.find_element(By.CSS_SELECTOR, "#freeze-form button[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "content-hash"))
    version = DatasetVersion.objects.get(name="v1")
    assert text(browser, "content-hash") == version.content_hash
    splits = version.counts["splits"]
    assert (splits["train"], splits["val"], splits["test"]) != (0, 0, 0)
    assert sum(splits.values()) == 18
    last_row = browser.find_elements(By.CSS_SELECTOR, "#counts-planes tbody tr")[-1].text
    assert last_row == f"All scans {splits['train']} {splits['val']} {splits['test']} 18"
    assert (
        browser.find_element(By.ID, "download")
        .get_attribute("href")
        .endswith(f"/datasets/{version.pk}/export.zip")
    )
    screenshot(browser, "version")
    both_widths(browser, f"{server}/datasets/{version.pk}/", "version", problems)

    # An invalid recipe: refused on the page, with the trainer's own message, nothing queued.
    browser.find_element(By.NAME, "budget_min").send_keys("0.2")
    browser.find_element(By.NAME, "overrides").send_keys("lora.rank=big")
    browser.find_element(By.CSS_SELECTOR, "#run-form button[type=submit]").click()
    wait.until(lambda d: "lora.rank: must be an integer, got 'big'" in text(d, "run-errors"))
    assert not TrainingRun.objects.exists() and training_queue() == 0
    check_page(browser, "version, a refused recipe", problems)
    # A valid one: queued on the training queue, and its page opens.
    browser.find_element(By.NAME, "overrides").clear()
    browser.find_element(By.CSS_SELECTOR, "#run-form button[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "run-curve"))
    run = TrainingRun.objects.get()
    assert browser.current_url == f"{server}/datasets/runs/{run.pk}/"
    assert (run.state, run.budget_min, training_queue()) == ("queued", 0.2, 1)
    assert text(browser, "run-state") == "queued"
    both_widths(
        browser, f"{server}/datasets/runs/{run.pk}/", "run, queued", problems,
        ready=lambda d: d.find_element(By.ID, "run").get_attribute("data-live") == "socket",
    )  # fmt: skip

    # The worker's progress reaches the open page over the socket, without a reload.
    marker = browser.execute_script("window.__same_page = 1; return window.__same_page")
    now = timezone.now()
    TrainingRun.objects.filter(pk=run.pk).update(
        state="running", attempts=1, started_at=now, heartbeat_at=now
    )
    train_records = splits["train"]
    losses = [2.4, 1.9, 1.5, 1.3, 1.2, 1.1, 1.05, 1.0]

    def worker_writes(steps: int) -> dict:
        entries = [
            {"step": k, "loss": losses[k - 1], "elapsed_s": 0.5 * k} for k in range(1, steps + 1)
        ]
        fields = progress_of(TrainingRun.objects.get(pk=run.pk), entries, train_records)
        TrainingRun.objects.filter(pk=run.pk).update(
            **fields, heartbeat_at=timezone.now(), log_tail=f"step {steps} loss {losses[steps - 1]}"
        )
        push_run(run.pk)
        return fields

    for steps in (3, 8):
        fields = worker_writes(steps)
        wait.until(lambda d, s=steps: text(d, "run-step") == str(s))
        assert text(browser, "run-state") == "running"
        assert text(browser, "run-loss") == f"{losses[steps - 1]:.4f}"
        assert text(browser, "run-left") == f"{js_round(fields['seconds_left'])} s"
        assert text(browser, "run-progress") == str(js_round(100 * fields["progress"]))
        curve = browser.find_element(By.CSS_SELECTOR, "#run-curve polyline")
        assert curve.get_attribute("data-points") == str(steps)
        assert len(curve.get_attribute("points").split()) == steps
        assert f"step {steps} loss" in text(browser, "run-log")
        assert text(browser, "run-curve-caption") == (
            "Training loss by step (the learning curve): "
            f"2.4000 at step 1, {losses[steps - 1]:.4f} at step {steps}."
        )
    assert browser.execute_script("return window.__same_page") == marker  # no reload
    assert browser.find_element(By.ID, "run").get_attribute("data-live") == "socket"
    screenshot(browser, "run_live")
    check_page(browser, "run, training (1280 px)", problems)
    browser.set_window_size(390, 844)
    check_page(browser, "run, training (390 px)", problems)
    browser.set_window_size(1280, 900)

    # Cancel: the worker is asked to stop; when it ends the run, the page says so.
    browser.set_window_size(390, 844)
    cancel = browser.find_element(By.ID, "cancel")
    assert cancel.size["height"] >= 44  # touchable on the phone
    browser.set_window_size(1280, 900)
    browser.find_element(By.ID, "cancel").click()
    wait.until(lambda d: text(d, "run-state") == "cancelling")
    assert TrainingRun.objects.get(pk=run.pk).state == "cancelling"
    wait.until(lambda d: d.find_element(By.ID, "run").get_attribute("data-live") == "socket")
    run_execute(run.pk)  # the worker takes the run's message and ends it
    wait.until(lambda d: text(d, "run-state") == "cancelled")
    assert not browser.find_elements(By.ID, "cancel")
    assert TrainingRun.objects.get(pk=run.pk).finished_at is not None

    # A run that ended with a model measuring worse than the one in force.
    worse = worse_comparison()
    report = {**worse["new"], "compared_with": worse["comparison"]}
    report["training_run"] = {"id": run.pk + 1, "dataset": "v1", "recipe": "demo", "steps": 40}
    model = model_register(
        user=pat, name="v1 · run 2 (demo)", base_path=str(ROOT / "models" / "demo"),
        evaluation_report=report,
    )  # fmt: skip
    done = TrainingRun.objects.create(
        version=version, recipe="demo", config=run.config, budget_min=1.0,
        base_model=run.base_model, out_dir=run.out_dir, created_by=pat, state="done", step=40,
        progress=1.0, seconds_left=0.0, attempts=1,
        loss_history=[[k, 2.0 / k] for k in range(1, 41)],
        evaluation={"comparison": worse["comparison"]}, registered_model=model,
        finished_at=timezone.now(),
    )  # fmt: skip
    both_widths(browser, f"{server}/datasets/runs/{done.pk}/", "run, worse", problems)
    verdict = browser.find_element(By.CSS_SELECTOR, "#verdict strong")
    assert verdict.text == "The new model measures worse than the settings' model"
    lower = "lower: plane accuracy, box F1, grade accuracy"
    assert lower in text(browser, "verdict")
    assert "the model registry offers to activate it" in text(browser, "run-evaluation")
    browser.get(f"{server}/administration/models/")
    comparison = browser.find_element(By.CSS_SELECTOR, ".comparison[data-verdict=worse]")
    assert comparison.find_element(By.TAG_NAME, "strong").text == (
        "measures worse than the settings' model"
    )
    assert "activate it only if you mean to" in comparison.text and lower in comparison.text
    assert comparison.text.startswith("Trained on v1 (run")
    row = comparison.find_element(By.XPATH, "./ancestor::tr")
    assert (
        row.find_element(By.CSS_SELECTOR, "a.activate")
        .get_attribute("href")
        .endswith(f"/administration/models/{model.pk}/activate/")
    )
    browser.execute_script("arguments[0].scrollIntoView()", row)
    screenshot(browser, "registry_worse")
    both_widths(browser, f"{server}/administration/models/", "registry", problems)

    assert not problems, json.dumps(problems, indent=1)
