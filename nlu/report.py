"""NLU report: compare pipelines side by side and keep the figures.

Usage:
  ./dev py-nlu -m nlu.report                      # config.yml vs nlu/configs/*.yml on the held-out file
  ./dev py-nlu -m nlu.report --folds 3            # plus k-fold cross-validation on the training data
  ./dev py-nlu -m nlu.report --folds 3 --cv-for config.yml   # cross-validate only the chosen pipeline

Every candidate is trained on exactly the same training data and evaluated on
exactly the same held-out file (and the same folds), so the differences are the
pipelines'. Models are cached by fingerprint under models/compare/, so a re-run
only trains what changed. Writes reports/nlu_report.json and a PNG confusion
matrix per candidate.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from nlu.evaluate import evaluate, load_examples, print_report, report_from
from nlu.model_files import CONFIG_FILE, PROJECT_ROOT, TRAINING_DIR, current_model_path, training_files

COMPARE_DIR = PROJECT_ROOT / "models" / "compare"
REPORTS = PROJECT_ROOT / "reports"
HELDOUT = PROJECT_ROOT / "nlu" / "heldout" / "heldout.yml"


def _digest(config: Path, data_files: list[Path]) -> str:
    digest = hashlib.sha256(config.read_bytes())
    for path in data_files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train_cached(config: Path, data_dir: Path) -> tuple[Path, float]:
    """Train (or reuse) a model for config + data; returns (path, seconds spent)."""
    from rasa.model_training import train_nlu

    if config.resolve() == CONFIG_FILE.resolve() and data_dir.resolve() == TRAINING_DIR.resolve():
        shipped = current_model_path()
        if shipped.exists():  # the bot's own model: same config, same data
            return shipped, 0.0
    name = f"{config.stem}-{_digest(config, training_files(data_dir))}"
    target = COMPARE_DIR / f"{name}.tar.gz"
    if target.exists():
        return target, 0.0
    started = time.monotonic()
    train_nlu(config=str(config), nlu_data=str(data_dir), output=str(COMPARE_DIR), fixed_model_name=name)
    return target, time.monotonic() - started


def score(model: Path, examples: list[tuple[str, str]]) -> dict[str, Any]:
    from nlu.classifier import RasaClassifier

    classifier = RasaClassifier(model)
    started = time.monotonic()
    report = evaluate(examples, lambda text: classifier.parse(text).intent)
    report["parse_ms_mean"] = round(1000 * (time.monotonic() - started) / max(1, len(examples)), 2)
    return report


def folds(k: int, seed: int = 42) -> list[tuple[Path, list[tuple[str, str]]]]:
    """Stratified k folds of the training data: (training dir, test examples)."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(TRAINING_DIR))
    by_intent: dict[str, list[Any]] = {}
    for example in data.intent_examples:
        by_intent.setdefault(example.get("intent"), []).append(example)
    rng = random.Random(seed)
    buckets: list[list[Any]] = [[] for _ in range(k)]
    for examples in by_intent.values():
        rng.shuffle(examples)
        for index, example in enumerate(examples):
            buckets[index % k].append(example)
    result = []
    for index in range(k):
        train_examples = [e for j, bucket in enumerate(buckets) if j != index for e in bucket]
        fold_dir = Path(tempfile.mkdtemp(prefix=f"fold{index}-"))
        fold_data = TrainingData(
            training_examples=train_examples,
            entity_synonyms=data.entity_synonyms,
            regex_features=data.regex_features,
        )
        (fold_dir / "nlu.yml").write_text(fold_data.nlu_as_yaml())
        result.append((fold_dir, [(e.get("text"), e.get("intent")) for e in buckets[index]]))
    return result


def confusion_png(report: dict[str, Any], examples: list[tuple[str, str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    labels = sorted({i for _, i in examples})
    matrix = confusion_matrix([i for _, i in examples], report["predicted"], labels=labels)
    figure, axis = plt.subplots(figsize=(11, 9))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    for row in range(len(labels)):
        for column in range(len(labels)):
            if matrix[row, column]:
                axis.text(column, row, int(matrix[row, column]), ha="center", va="center", fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("expected")
    axis.set_title(f"{report.get('config')} on {Path(report.get('file', '')).name}: macro-F1 {report['macro_f1']:.3f}")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


@functools.lru_cache(maxsize=1)
def _shipped_content() -> Any:
    """The content files, read and validated once per report run, not once per scored set."""
    from bot.content import load_content

    return load_content(PROJECT_ROOT / "content")


def emergency_recall(report: dict[str, Any]) -> dict[str, Any]:
    """Recall of emergencies by the bot, not by NLU alone: flows/safety.py also
    matches the danger patterns of content/safety.yml on every message, before
    NLU. An emergency NLU misses but a pattern catches still gets the hotlines."""
    from flows.safety import mentions_danger

    content = _shipped_content()
    support = report["per_intent"].get("darurat", {}).get("support", 0)
    missed = [e["text"] for e in report["errors"] if e["expected"] == "darurat"]
    still_missed = [text for text in missed if not mentions_danger(content, text)]
    return {
        "nlu_recall": report["per_intent"].get("darurat", {}).get("recall", 0.0),
        "with_danger_patterns": round((support - len(still_missed)) / support, 4) if support else 0.0,
        "missed_by_both": still_missed,
    }


def print_emergency(emergency: dict[str, Any]) -> None:
    print(f"\nemergencies (darurat): NLU recall {emergency['nlu_recall']:.3f}; with the danger patterns "
          f"(what the bot does) {emergency['with_danger_patterns']:.3f}")
    for text in emergency["missed_by_both"]:
        print(f"  missed by both: {text}")


def without_predictions(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "predicted"}


def cross_validate(config: Path, fold_sets: list[tuple[Path, list[tuple[str, str]]]]) -> dict[str, Any]:
    """Train on k-1 folds, predict the held-back fold, and score all k folds' predictions as one set.

    Pooling gives every training example exactly one out-of-fold prediction, so the
    per-intent F1 and the confusions cover the whole training file, like `rasa test nlu --cross-validation`.
    """
    fold_scores, pooled_examples, pooled_predicted = [], [], []
    for fold_dir, test_examples in fold_sets:
        fold_model, _ = train_cached(config, fold_dir)
        fold_report = score(fold_model, test_examples)
        fold_scores.append(fold_report)
        pooled_examples += test_examples
        pooled_predicted += fold_report["predicted"]
    pooled = report_from(pooled_predicted, pooled_examples)
    pooled["config"], pooled["file"] = config.name, f"training data, {len(fold_sets)}-fold CV"
    pooled["emergency"] = emergency_recall(pooled)
    print_report(pooled, f"{config.name}, {len(fold_sets)}-fold cross-validation on the training data (pooled)")
    print_emergency(pooled["emergency"])
    confusion_png(pooled, pooled_examples, REPORTS / f"confusion_{config.stem}_cv.png")
    return {
        "folds": len(fold_sets),
        "accuracy_mean": round(sum(f["accuracy"] for f in fold_scores) / len(fold_scores), 4),
        "macro_f1_mean": round(sum(f["macro_f1"] for f in fold_scores) / len(fold_scores), 4),
        "per_fold_macro_f1": [f["macro_f1"] for f in fold_scores],
        "pooled": without_predictions(pooled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="*", type=Path, default=[CONFIG_FILE, *sorted((PROJECT_ROOT / "nlu" / "configs").glob("*.yml"))])
    parser.add_argument("--folds", type=int, default=0, help="k for cross-validation on the training data (0 = skip)")
    parser.add_argument("--cv-for", nargs="*", default=None, metavar="NAME",
                        help="cross-validate only these configs (file names, e.g. config.yml); default: all")
    args = parser.parse_args()
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    COMPARE_DIR.mkdir(parents=True, exist_ok=True)
    REPORTS.mkdir(parents=True, exist_ok=True)

    heldout = load_examples(HELDOUT)
    fold_sets = folds(args.folds) if args.folds > 1 else []
    summary: dict[str, Any] = {"heldout_file": str(HELDOUT), "candidates": {}}
    for config in args.configs:
        model, seconds = train_cached(config, TRAINING_DIR)
        report = score(model, heldout)
        report["config"], report["file"], report["train_seconds"] = config.name, str(HELDOUT), round(seconds, 1)
        report["emergency"] = emergency_recall(report)
        print_report(report, f"{config.name} on held-out")
        print_emergency(report["emergency"])
        confusion_png(report, heldout, REPORTS / f"confusion_{config.stem}.png")
        entry: dict[str, Any] = {"heldout": without_predictions(report)}
        if fold_sets and (args.cv_for is None or config.name in args.cv_for):
            entry["cross_validation"] = cross_validate(config, fold_sets)
        summary["candidates"][config.name] = entry

    print("\nside by side (same training data, same held-out file):")
    print(f"{'config':<28} {'accuracy':>8} {'macro-F1':>8} {'darurat R':>9} {'+patterns':>9} "
          f"{'CV acc':>7} {'CV F1':>7} {'CV dar R':>8} {'+patterns':>9} {'train s':>8} {'parse ms':>8}")
    for name, entry in summary["candidates"].items():
        held = entry["heldout"]
        cv = entry.get("cross_validation", {})
        pooled = cv.get("pooled", {})
        cv_cells = (
            f"{pooled['accuracy']:>7.3f} {pooled['macro_f1']:>7.3f} {pooled['emergency']['nlu_recall']:>8.3f} "
            f"{pooled['emergency']['with_danger_patterns']:>9.3f}"
            if pooled else f"{'-':>7} {'-':>7} {'-':>8} {'-':>9}"
        )
        print(
            f"{name:<28} {held['accuracy']:>8.3f} {held['macro_f1']:>8.3f} "
            f"{held['emergency']['nlu_recall']:>9.3f} {held['emergency']['with_danger_patterns']:>9.3f} "
            f"{cv_cells} {held['train_seconds']:>8} {held['parse_ms_mean']:>8}"
        )
    out = REPORTS / "nlu_report.json"
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\nJSON: {out}\nPNG: {REPORTS}/confusion_*.png")


if __name__ == "__main__":
    main()
