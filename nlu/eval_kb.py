"""Measure the knowledge finder on a held-out question file (never trained on).

    ./dev py -m nlu.eval_kb nlu/heldout/kb_heldout.yml

Prints (and writes as JSON, default reports/<name>.json) top-1 / top-3 accuracy per language and overall, the share answered
directly (clear) with the accuracy among those, and the length of the first
reply message (median / p95), as a person on WhatsApp would see it. The finder
runs without an NLU intent hint, so these figures are for the text alone.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from bot.config import PROJECT_ROOT
from bot.content import load_content
from bot.knowledge import KnowledgeFinder, load_knowledge, load_same_words, topic_shorts
from bot.messages import Option, Outbound


def first_message(content, finder: KnowledgeFinder, text: str) -> tuple[object, str]:  # type: ignore[no-untyped-def]
    """The match and the plain text of the first message the bot would send."""
    match = finder.find(text, None, content.country_from_text(text))
    if match.clear and match.best is not None:
        reply = content.fill(match.best.answer)
        if not match.best.verified:
            reply += "\n\n" + content.text("unverified_mark")
        return match, reply
    if match.best is not None and len(match.candidates) > 1:
        options = tuple(Option(c.entry.id, c.entry.title) for c in match.candidates)
        return match, Outbound(content.text("kb_did_you_mean"), options).as_plain_text()
    intent = match.best.intent if match.best else "tanya_prosedur"
    return match, content.fill(topic_shorts(content).get(intent, ""))


def evaluate(path: Path, content_dir: Path = PROJECT_ROOT / "content", same_words: bool = True) -> dict[str, float]:
    content = load_content(content_dir)
    table = load_same_words(content_dir / "same_words.yml") if same_words else {}
    finder = KnowledgeFinder(load_knowledge(content_dir / "knowledge", content), same_words=table)
    questions = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    per_lang: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    clear_hits: list[bool] = []
    lengths: list[int] = []
    for item in questions:
        match, reply = first_message(content, finder, item["text"])
        ids = [c.entry.id for c in match.candidates]
        top1 = bool(ids) and ids[0] == item["entry"]
        per_lang[item.get("lang", "?")].append((top1, item["entry"] in ids))
        if match.clear:
            clear_hits.append(top1)
        lengths.append(len(reply))
    print(f"{'bahasa':8} {'n':>4} {'top-1':>7} {'top-3':>7}")
    every = [row for rows in per_lang.values() for row in rows]
    for lang, rows in sorted(per_lang.items()) + [("semua", every)]:
        print(f"{lang:8} {len(rows):4d} {np.mean([r[0] for r in rows]):7.3f} {np.mean([r[1] for r in rows]):7.3f}")
    figures = {
        "per_language": {
            lang: {"n": len(rows), "top1": float(np.mean([r[0] for r in rows])), "top3": float(np.mean([r[1] for r in rows]))}
            for lang, rows in sorted(per_lang.items())
        },
        "top1": float(np.mean([r[0] for r in every])),
        "top3": float(np.mean([r[1] for r in every])),
        "clear_share": len(clear_hits) / len(every),
        "clear_accuracy": float(np.mean(clear_hits)) if clear_hits else 0.0,
        "length_median": float(np.median(lengths)),
        "length_p95": float(np.percentile(lengths, 95)),
    }
    print(f"dijawab langsung (clear): {figures['clear_share']:.3f}, akurasi di antaranya: {figures['clear_accuracy']:.3f}")
    print(f"panjang pesan pertama: median {figures['length_median']:.0f}, p95 {figures['length_p95']:.0f} huruf")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="held-out YAML: questions: [{text, entry, lang}]")
    parser.add_argument("--json", type=Path, help="where to write the figures (default reports/<name>.json)")
    parser.add_argument("--without-same-words", action="store_true", help="ignore content/same_words.yml (to compare)")
    args = parser.parse_args()
    figures = evaluate(args.file, same_words=not args.without_same_words)
    out = args.json or PROJECT_ROOT / "reports" / f"{args.file.stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"file": str(args.file), **figures}, indent=2))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
