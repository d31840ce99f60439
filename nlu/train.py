"""Train the NLU model if (and only if) config or training data changed.

Usage: python -m nlu.train [--force]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from nlu.model_files import CONFIG_FILE, DEFAULT_MODEL_DIR, TRAINING_DIR, current_model_path, fingerprint, model_name


def train(model_dir: Path = DEFAULT_MODEL_DIR, force: bool = False) -> Path:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    target = current_model_path(model_dir)
    if target.exists() and not force:
        print(f"==> Model NLU sudah terbaru: {target.name}", file=sys.stderr)
        return target
    from rasa.model_training import train_nlu

    print(f"==> Melatih model NLU ({target.name}); sekitar 5-8 menit di 2 core...", file=sys.stderr)
    started = time.monotonic()
    result = train_nlu(
        config=str(CONFIG_FILE),
        nlu_data=str(TRAINING_DIR),
        output=str(model_dir),
        fixed_model_name=model_name(fingerprint()),
    )
    if not result or not Path(result).exists():
        raise SystemExit("Pelatihan model NLU gagal; lihat pesan di atas.")
    print(f"==> Model NLU selesai dilatih dalam {time.monotonic() - started:.0f} detik.", file=sys.stderr)
    for stale in model_dir.glob("nlu-*.tar.gz"):
        if stale != target:
            stale.unlink()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="train even if the model is current")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    train(args.model_dir, args.force)


if __name__ == "__main__":
    main()
