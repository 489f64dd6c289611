"""Training runs: start (checked before anything is queued), run on the ``training`` queue,
follow, cancel, resume after a lost worker, and end with the evaluation and the registry.

A run is ``python -m trainer fit`` in a subprocess of the training worker, at low CPU
priority (``nice``), on the version's export in the run's folder. The worker reads the
trainer's ``log.jsonl`` as it grows and writes the run's step, loss history, progress and time
left to the database every ``POLL_S`` seconds, with a heartbeat, and pushes them to the pages
open on the run (``events.push_run``, the channel group ``training.<id>`` the run's websocket
joins); a page without a socket polls the API.
Cancelling sets the state to ``cancelling``; the worker sees it at its next poll and stops the
trainer. The trainer saves its whole state every ``save_every`` steps into the run folder and
resumes from it when started again with the same folder, so a run whose worker died (no
heartbeat for ``ABVLMQ_TRAINING_STALE_AFTER`` seconds) is sent again by the sweeper
(:func:`training_sweep`, Celery beat on the maintenance queue) and goes on from its last saved
step. The task message is acknowledged on receipt: a run lasts longer than the broker's
visibility timeout, so the broker must never hand it out twice; the heartbeat does that job.

When the trainer ends, ``trainer evaluate`` measures the model in force and the new one on the
version's test split (the same scans, side by side in one report), and the new model is
registered (administration's registry) with that report and whether it measures better or
worse; a program admin activates it or not.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from abvlmq_web.accounts.models import User
from abvlmq_web.administration.services import model_register
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.rubrics import active_model_version, worker_runtime
from abvlmq_web.datasets.events import push_run
from abvlmq_web.datasets.models import DatasetVersion, TrainingRun
from abvlmq_web.datasets.selectors import runs
from abvlmq_web.datasets.services import require_admin, version_export
from trainer.config import ConfigError
from trainer.fit.settings import config_to_dict, load_config
from trainer.promote import merit

ROOT = Path(settings.BASE_DIR)
RECIPES: dict[str, dict[str, str]] = {
    "demo": {
        "config": "trainer/configs/app_demo.yaml",
        "label": "Demo recipe: the model in force continued on this machine's CPU, for a "
        "budget of CPU minutes",
    },
    "paper_lora_2b": {
        "config": "trainer/configs/paper_lora_2b.yaml",
        "label": "The paper's recipe: LoRA on Qwen2-VL-2B from a local base checkpoint, "
        "for a GPU worker",
    },
}
POLL_S = 1.0
LOG_TAIL_LINES = 40
TASK = "abvlmq_web.datasets.tasks.run_training"


# --------------------------------------------------------------------------- start


def _overrides(text: str) -> list[str]:
    lines = [line.strip() for line in (text or "").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def run_start(
    *,
    user: User,
    version: DatasetVersion,
    recipe: str,
    budget_min: float | None = None,
    base_path: str = "",
    overrides: str = "",
) -> TrainingRun:
    """Check the recipe (the trainer's own validation, its message unchanged) and queue the
    run; a recipe that does not validate is refused and nothing is queued."""
    require_admin(user)
    if recipe not in RECIPES:
        raise ValidationError({"recipe": f"Unknown recipe {recipe!r}: {', '.join(RECIPES)}."})
    out = Path(settings.VAR_DIR) / "training" / f"run-{uuid.uuid4().hex[:12]}"
    forced = [f"data={out / 'data'}", f"out={out / 'run'}", "progress=false"]
    if recipe == "demo":
        runtime = worker_runtime()
        if runtime.adapter_dir:
            raise ValidationError(
                {"recipe": "The demo recipe continues a whole checkpoint; the model in force "
                 "is a base with a LoRA adapter. Use the LoRA recipe."}
            )  # fmt: skip
        base = runtime.model_dir
        if budget_min is None or not budget_min > 0:
            raise ValidationError({"budget_min": "Give the budget in CPU minutes (above 0)."})
        forced.append(f"time_budget_min={float(budget_min)}")
    else:
        base = (base_path or "").strip()
        if not base:
            raise ValidationError({"base_path": "Give the base checkpoint's folder."})
        if budget_min is not None:
            forced.append(f"time_budget_min={float(budget_min)}")
    forced.append(f"model={base}")
    try:
        config = load_config(ROOT / RECIPES[recipe]["config"], [*_overrides(overrides), *forced])
    except ConfigError as exc:
        raise ValidationError({"recipe": str(exc)}) from exc
    if config.model != "tiny" and not Path(config.model).is_dir():
        raise ValidationError({"base_path": f"model: {config.model} is not a folder here."})
    with transaction.atomic():
        run = TrainingRun.objects.create(
            version=version,
            recipe=recipe,
            config=config_to_dict(config),
            budget_min=config.time_budget_min,
            base_model=str(config.model),
            out_dir=str(out),
            created_by=user,
        )
        audit_record(
            actor=user,
            action="training.start",
            details={"run": run.pk, "version": version.name, "recipe": recipe,
                     "budget_min": run.budget_min, "base": run.base_model},
        )  # fmt: skip
        transaction.on_commit(lambda: run_send(run.pk))
    return run


def run_send(run_id: int) -> None:
    current_app.tasks[TASK].apply_async((run_id,), queue=settings.ABVLMQ_TRAINING_QUEUE)


def run_cancel(*, user: User, run: TrainingRun) -> TrainingRun:
    """A queued run ends at once; a running one at the worker's next poll (it stops the
    trainer). The run folder stays (its saved state, its log)."""
    require_admin(user)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.finished:
            raise ValidationError("The run has ended already.")
        if run.state == TrainingRun.State.QUEUED:
            run.state, run.finished_at = TrainingRun.State.CANCELLED, timezone.now()
        else:
            run.state = TrainingRun.State.CANCELLING
        run.save(update_fields=["state", "finished_at"])
        audit_record(actor=user, action="training.cancel", details={"run": run.pk})
        transaction.on_commit(lambda: push_run(run.pk))
    return run


def training_sweep(now: dt.datetime | None = None) -> list[int]:
    """Send again the runs whose worker stopped beating (killed, machine gone): they resume
    from their saved state. Returns their ids."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.ABVLMQ_TRAINING_STALE_AFTER)
    revived = []
    active = [TrainingRun.State.RUNNING, TrainingRun.State.EVALUATING]
    for run in TrainingRun.objects.filter(state__in=active, heartbeat_at__lt=stale):
        n = TrainingRun.objects.filter(pk=run.pk, state=run.state, heartbeat_at__lt=stale).update(
            state=TrainingRun.State.QUEUED, heartbeat_at=now
        )
        if n:
            run_send(run.pk)
            push_run(run.pk)
            revived.append(run.pk)
    cancelling = TrainingRun.objects.filter(
        state=TrainingRun.State.CANCELLING, heartbeat_at__lt=stale
    )
    for run_id in list(cancelling.values_list("pk", flat=True)):
        if cancelling.filter(pk=run_id).update(state=TrainingRun.State.CANCELLED, finished_at=now):
            push_run(run_id)
    return revived


# --------------------------------------------------------------------------- progress


def read_log(path: Path) -> list[dict[str, Any]]:
    """The trainer's log.jsonl, one entry per step (a resumed run's repeated steps: the last)."""
    by_step: dict[int, dict] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written
        if isinstance(entry, dict) and "step" in entry and "loss" in entry:
            by_step[int(entry["step"])] = entry
    return [by_step[k] for k in sorted(by_step)]


def total_steps(config: dict[str, Any], train_records: int) -> int | None:
    """The step the run ends at when it runs on steps or epochs (None on a time budget)."""
    if config.get("time_budget_min"):
        return None
    if config.get("max_steps"):
        return int(config["max_steps"])
    per = max(1, train_records // (config["batch_size"] * config["grad_accum"]))
    return max(1, math.ceil(per * float(config["epochs"])))


def progress_of(run: TrainingRun, entries: list[dict], train_records: int) -> dict[str, Any]:
    """Step, loss history, progress (0..1) and seconds left from the log's entries."""
    if not entries:
        return {}
    last = entries[-1]
    step, elapsed = int(last["step"]), float(last.get("elapsed_s", 0.0))
    config = run.config
    total = total_steps(config, train_records)
    epochs_cap = None
    if config.get("time_budget_min"):  # ends on time, or on the epochs first (a small set)
        budget = 60.0 * float(config["time_budget_min"])
        per = max(1, train_records // (config["batch_size"] * config["grad_accum"]))
        epochs_cap = max(1, math.ceil(per * float(config["epochs"])))
        done = max(elapsed / budget, step / epochs_cap)
    else:
        done = step / total if total else 0.0
    done = min(1.0, done)
    left = None
    if done > 0:
        left = max(0.0, elapsed * (1 - done) / done)
    return {
        "step": step,
        "total_steps": total or epochs_cap,
        "progress": round(done, 4),
        "elapsed_s": round(elapsed, 1),
        "seconds_left": round(left, 1) if left is not None else None,
        "loss_history": [[int(e["step"]), float(e["loss"])] for e in entries],
    }


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    # tqdm and transformers' bars redraw with \r: keep each line's last state
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:])


# --------------------------------------------------------------------------- the worker's part


class Cancelled(Exception):
    pass


def _child(argv: list[str], log: Path) -> subprocess.Popen:
    nice = ["nice", "-n", str(settings.ABVLMQ_TRAINING_NICE)] if shutil.which("nice") else []
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    fh = log.open("ab")
    try:
        return subprocess.Popen(
            [*nice, sys.executable, "-m", "trainer", *argv],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        fh.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _beat(run_id: int, **fields: Any) -> str:
    """Write progress and the heartbeat, push them to the run's open pages; returns the run's
    state (cancelling, ...)."""
    fields["heartbeat_at"] = timezone.now()
    TrainingRun.objects.filter(pk=run_id).update(**fields)
    run = runs().get(pk=run_id)
    push_run(run)
    return run.state


def _set(run_id: int, **fields: Any) -> None:
    """A change of the run's state (evaluating, its end), written then pushed."""
    TrainingRun.objects.filter(pk=run_id).update(**fields)
    push_run(run_id)


def _follow(run: TrainingRun, proc: subprocess.Popen, log: Path, train_records: int | None) -> int:
    """Wait for the child, writing the run's progress (the fit's: ``train_records`` given) and
    log tail as it goes; raises Cancelled."""
    out = Path(run.out_dir) / "run"
    while True:
        rc = proc.poll()
        fields = {}
        if train_records is not None:
            fields = progress_of(run, read_log(out / "log.jsonl"), train_records)
        state = _beat(run.pk, log_tail=_tail(log), **fields)
        if state == TrainingRun.State.CANCELLING:
            _stop(proc)
            raise Cancelled
        if rc is not None:
            return rc
        time.sleep(POLL_S)


def _evaluate_argv(model: Path, adapter: Path | None, data: Path, out: Path) -> list[str]:
    argv = ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out)]
    argv += ["--n-boot", str(settings.ABVLMQ_TRAINING_EVAL_BOOT)]
    return argv + (["--adapter", str(adapter)] if adapter else [])


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    def get(*path):
        node = report
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    met, mean = merit(report)
    return {
        "n_images": report.get("n_images"),
        "plane_label_accuracy": get("planes", "label_accuracy"),
        "plane_subset_accuracy": get("planes", "subset_accuracy"),
        "detection_precision": get("detection", "precision"),
        "detection_recall": get("detection", "recall"),
        "detection_f1": get("detection", "f1"),
        "grade_accuracy": get("grades", "accuracy"),
        "targets_met": met,
        "mean_figure": round(mean, 4),
    }


FIGURE_WORDS = {  # the figures a comparison names, as the pages say them
    "plane_label_accuracy": "plane accuracy",
    "detection_f1": "box F1",
    "grade_accuracy": "grade accuracy",
}


def compare_reports(new: dict[str, Any], active: dict[str, Any]) -> dict[str, Any]:
    """The new model beside the one in force on the same scans: better, worse or the same,
    by :func:`trainer.promote.merit` (targets met, then the mean of plane label accuracy,
    detection F1 and grade accuracy), with the figures that went down named."""
    a, b = _headline(new), _headline(active)
    new_merit, old_merit = merit(new), merit(active)
    verdict = "better" if new_merit > old_merit else "worse" if new_merit < old_merit else "same"
    lower = [k for k in FIGURE_WORDS if (a[k] or 0.0) < (b[k] or 0.0)]
    return {
        "verdict": verdict, "new": a, "active": b, "lower": lower,
        "lower_words": [FIGURE_WORDS[k] for k in lower],
    }  # fmt: skip


def _evaluate_and_register(run: TrainingRun, log: Path) -> None:
    out = Path(run.out_dir)
    data = out / "data" / "test.jsonl"
    if not data.read_text(encoding="utf-8").strip():
        raise RuntimeError("the version's test split is empty: nothing to evaluate on")
    runtime = worker_runtime()
    active = active_model_version()
    active_name = active.name if active else f"settings' model ({runtime.model_dir})"
    final = Path(run.model_dir)
    lora = run.config.get("mode") == "lora"
    steps = [
        (Path(runtime.model_dir), Path(runtime.adapter_dir) if runtime.adapter_dir else None,
         out / "eval-active"),
        (Path(run.base_model) if lora else final, final if lora else None, out / "eval"),
    ]  # fmt: skip
    for model, adapter, folder in steps:
        argv = _evaluate_argv(model, adapter, data, folder)
        if folder.name == "eval":  # the model in force as a column of the same report
            argv += ["--baseline", f"in force={out / 'eval-active' / 'predictions.jsonl'}"]
        proc = _child(argv, log)
        if _follow(run, proc, log, None) != 0:
            raise RuntimeError(f"trainer evaluate failed ({folder.name}); see the log")
    new = json.loads((out / "eval" / "report.json").read_text(encoding="utf-8"))
    old = json.loads((out / "eval-active" / "report.json").read_text(encoding="utf-8"))
    comparison = compare_reports(new, old) | {"active_model": active_name}
    evaluation = {"comparison": comparison, "report": str(out / "eval" / "report.md")}
    _set(run.pk, evaluation=evaluation)
    version = run.version
    report = {k: v for k, v in new.items() if k not in ("definitions", "paper")}
    report["compared_with"] = comparison
    report["training_run"] = {
        "id": run.pk, "dataset": version.name, "content_hash": version.content_hash,
        "recipe": run.recipe, "steps": run.step,
    }  # fmt: skip
    model = model_register(
        user=run.created_by,
        name=f"{version.name} · run {run.pk} ({run.recipe})",
        base_path=str(run.base_model if lora else final),
        adapter_path=str(final) if lora else "",
        evaluation_report=report,
        note=f"Trained by run {run.pk} on {version.name}; measured beside {active_name} on "
        f"the same {comparison['new']['n_images']} test scans: {comparison['verdict']}.",
    )
    TrainingRun.objects.filter(pk=run.pk).update(registered_model=model)


LIVE_HEAD_FILES = ("live_head.npz", "live_head.json")


def _keep_tower_readouts(run: TrainingRun, final: Path, log: Path) -> None:
    """What reads the vision tower beside the new model: the abstention statistics and the live
    view's head (issue 34). With the tower frozen the base's describe the new model's tower too,
    so they are copied (with their description); a recipe that trains the tower gets a live head
    fitted on it (``trainer live-head``, as the demo's was)."""
    base = Path(run.base_model)
    if run.config.get("vision") != "frozen":
        if not (final / LIVE_HEAD_FILES[0]).is_file():
            weights = ["--model", str(final)]
            if run.config.get("mode") == "lora":  # the head goes beside the adapter
                weights = ["--model", str(base), "--adapter", str(final)]
            if _follow(run, _child(["live-head", *weights], log), log, None) != 0:
                raise RuntimeError("trainer live-head failed (the run's log says why)")
        return
    if all((base / name).is_file() for name in LIVE_HEAD_FILES):
        for name in LIVE_HEAD_FILES:
            shutil.copyfile(base / name, final / name)
    if not (base / "ood_stats.npz").is_file():
        return
    shutil.copyfile(base / "ood_stats.npz", final / "ood_stats.npz")
    info_path, base_info = final / "abvlmq.json", base / "abvlmq.json"
    if info_path.is_file() and base_info.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        ood = json.loads(base_info.read_text(encoding="utf-8")).get("ood")
        if ood:
            info["ood"] = ood
            info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def run_execute(run_id: int) -> None:
    """The task's body: export, fit (resuming a saved state), evaluate, register."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.finished:
            return
        fresh = timezone.now() - dt.timedelta(seconds=settings.ABVLMQ_TRAINING_STALE_AFTER)
        busy = (TrainingRun.State.RUNNING, TrainingRun.State.EVALUATING)
        if run.state in busy and run.heartbeat_at and run.heartbeat_at > fresh:
            return  # another worker has it (a message sent twice)
        if run.state == TrainingRun.State.CANCELLING:
            run.state, run.finished_at = TrainingRun.State.CANCELLED, timezone.now()
            run.save(update_fields=["state", "finished_at"])
            transaction.on_commit(lambda: push_run(run.pk))
            return
        run.state = TrainingRun.State.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["state", "attempts", "started_at", "heartbeat_at"])
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "worker.log"
    try:
        data = out / "data"
        if not (data / "manifest.json").is_file():
            version_export(run.version, data)
        train_records = sum(1 for line in (data / "train.jsonl").open() if line.strip())
        if not train_records:
            raise RuntimeError("the version's train split is empty")
        config_path = out / "config.yaml"
        config_path.write_text(yaml.safe_dump(run.config, sort_keys=False), encoding="utf-8")
        final = out / "run" / "final"
        if not (final / "abvlmq.json").is_file():
            proc = _child(["fit", "--config", str(config_path)], log)
            rc = _follow(run, proc, log, train_records)
            if rc != 0 or not final.is_dir():
                raise RuntimeError(f"trainer fit ended with exit code {rc}")
            _keep_tower_readouts(run, final, log)
        _set(
            run.pk, model_dir=str(final), state=TrainingRun.State.EVALUATING, progress=1.0,
            seconds_left=0.0,
        )  # fmt: skip
        run.refresh_from_db()
        _evaluate_and_register(run, log)
    except Cancelled:
        _set(
            run.pk, state=TrainingRun.State.CANCELLED, finished_at=timezone.now(),
            log_tail=_tail(log),
        )  # fmt: skip
        return
    except (Exception, ValidationError) as exc:  # the run ends failed, saying why
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        _set(
            run.pk, state=TrainingRun.State.FAILED, finished_at=timezone.now(),
            failure_reason=message[:2000], log_tail=_tail(log),
        )  # fmt: skip
        return
    _set(run.pk, state=TrainingRun.State.DONE, finished_at=timezone.now(), log_tail=_tail(log))
