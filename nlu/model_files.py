"""Where the trained NLU model lives and which one belongs to the current data.

A model is named after a fingerprint of everything that shapes it (pipeline,
training data, Rasa version), so "train when changed" is a file-exists check and
a stale model can never be loaded by mistake.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = PROJECT_ROOT / "config.yml"
TRAINING_DIR = PROJECT_ROOT / "nlu" / "data"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"


def training_files(training_dir: Path = TRAINING_DIR) -> list[Path]:
    return sorted(training_dir.glob("*.yml"))


def fingerprint(config_file: Path = CONFIG_FILE, training_dir: Path = TRAINING_DIR) -> str:
    import rasa

    digest = hashlib.sha256()
    digest.update(f"rasa={rasa.__version__}\n".encode())
    for path in [config_file, *training_files(training_dir)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_name(fp: str) -> str:
    return f"nlu-{fp}"


def current_model_path(model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    return model_dir / f"{model_name(fingerprint())}.tar.gz"
