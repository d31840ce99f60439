"""Evaluate the trained NLU model on any Rasa NLU YAML file.

Usage: ./dev eval nlu/heldout/heldout.yml [more files, pooled] [--json reports/heldout.json]

Prints accuracy, macro-F1 and per-intent precision/recall/F1, the most frequent
confusions, and writes the same figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from nlu.model_files import DEFAULT_MODEL_DIR, PROJECT_ROOT, current_model_path


def evaluate(examples: list[tuple[str, str]], predict: Any) -> dict[str, Any]:
    """`predict(text) -> intent`; returns the report as a dictionary."""
    return report_from([predict(text) for text, _ in examples], examples)


def report_from(predicted: list[str], examples: list[tuple[str, str]]) -> dict[str, Any]:
    """The report for predictions made elsewhere (pooled cross-validation folds score as one set)."""
    from sklearn.metrics import precision_recall_fscore_support

    truth = [intent for _, intent in examples]
    labels = sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    per_intent = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    confusions = Counter((t, p) for t, p in zip(truth, predicted) if t != p)
    errors = [
        {"text": text, "expected": t, "predicted": p}
        for (text, t), p in zip(examples, predicted)
        if t != p
    ]
    correct = sum(1 for t, p in zip(truth, predicted) if t == p)
    return {
        "examples": len(examples),
        "accuracy": round(correct / len(examples), 4) if examples else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per_intent.values()) / len(per_intent), 4) if per_intent else 0.0,
        "per_intent": per_intent,
        "top_confusions": [
            {"expected": t, "predicted": p, "count": n} for (t, p), n in confusions.most_common(10)
        ],
        "errors": errors,
        "predicted": predicted,
    }


# "[text](entity)", "[text](entity:value)" or '[text]{"entity": ..., "value": ...}' -> "text"
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+?)\](?:\([^)]*\)|\{[^}]*\})")


def load_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) for every intent example of a Rasa NLU YAML file, entity
    annotations removed, read without Rasa: the service's Python has none.
    tests/test_nlu_worker.py checks it against Rasa's own loader in the Rasa venv."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[tuple[str, str]] = []
    for block in document.get("nlu") or []:
        if not isinstance(block, dict) or "intent" not in block:
            continue  # synonyms, regexes, lookups
        raw = block.get("examples") or ""
        items = raw.splitlines() if isinstance(raw, str) else [str(item.get("text", "")) for item in raw]
        for item in items:
            item = item.strip()
            if isinstance(raw, str):
                if not item.startswith("- "):
                    continue
                item = item[2:].strip()
            text = " ".join(_ANNOTATION.sub(lambda match: match.group("text"), item).split())
            if text:
                examples.append((text, str(block["intent"])))
    return examples


def print_report(report: dict[str, Any], title: str) -> None:
    print(f"\nNLU evaluation: {title}")
    print(f"examples {report['examples']}   accuracy {report['accuracy']:.3f}   macro-F1 {report['macro_f1']:.3f}\n")
    print(f"{'intent':<20} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}")
    for intent, row in report["per_intent"].items():
        print(f"{intent:<20} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} {row['support']:>4}")
    if report["top_confusions"]:
        print("\nmost frequent confusions (expected -> predicted):")
        for row in report["top_confusions"]:
            print(f"  {row['expected']} -> {row['predicted']}: {row['count']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="+", help="Rasa NLU YAML files with intent examples (pooled)")
    parser.add_argument("--json", type=Path, help="where to write the JSON report (default reports/<name>.json)")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

    from nlu.classifier import RasaClassifier

    classifier = RasaClassifier(current_model_path(args.model_dir))
    examples = [example for path in args.files for example in load_examples(path)]
    title = " + ".join(str(path) for path in args.files)
    if not examples:
        sys.exit(f"Tidak ada contoh intent di {title}")
    report = evaluate(examples, lambda text: classifier.parse(text).intent)
    report["file"] = title
    print_report(report, title)
    out = args.json or PROJECT_ROOT / "reports" / f"{'+'.join(path.stem for path in args.files)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
