"""Where the trained NLU model lives and which one belongs to the current data.

A model is named after a fingerprint of everything that shapes it (pipeline,
training data, Rasa version), so "train when changed" is a file-exists check and
a stale model can never be loaded by mistake.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = PROJECT_ROOT / "config.yml"
TRAINING_DIR = PROJECT_ROOT / "nlu" / "data"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"


def training_files(training_dir: Path = TRAINING_DIR) -> list[Path]:
    return sorted(training_dir.glob("*.yml"))


NLU_LOCK = PROJECT_ROOT / "requirements-nlu.lock"


def rasa_version() -> str:
    """The installed Rasa's version, or, on the service's Python (no Rasa there),
    the version the Rasa venv is built from: both sides name the same model."""
    try:
        return metadata.version("rasa")
    except metadata.PackageNotFoundError:
        for line in NLU_LOCK.read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("rasa=="):
                return line.split("==", 1)[1].strip()
    raise RuntimeError(f"rasa is neither installed nor pinned in {NLU_LOCK.name}")


def fingerprint(config_file: Path = CONFIG_FILE, training_dir: Path = TRAINING_DIR) -> str:
    digest = hashlib.sha256()
    digest.update(f"rasa={rasa_version()}\n".encode())
    for path in [config_file, *training_files(training_dir)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_name(fp: str) -> str:
    return f"nlu-{fp}"


def current_model_path(model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    return model_dir / f"{model_name(fingerprint())}.tar.gz"
