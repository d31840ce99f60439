"""How long reading the content takes, PyYAML's pure-Python safe loader and
libyaml's side by side in one run (issue 25: content is read at every start,
by every test that builds a bot, and by every worker).

    ./dev py -m bench.content_load [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from bot.config import PROJECT_ROOT
from bot.content import load_yaml


def _read_all(files: list[Path], loader: Any) -> float:
    started = time.perf_counter()
    for path in files:
        yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    files = sorted((PROJECT_ROOT / "content").rglob("*.yml"))
    if not hasattr(yaml, "CSafeLoader"):
        raise SystemExit("PyYAML was built without libyaml: load_yaml uses the pure-Python loader")
    for path in files:  # the loaders read the same documents
        assert yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) == load_yaml(path), path
    python = min(_read_all(files, yaml.SafeLoader) for _ in range(args.rounds))
    libyaml = min(_read_all(files, yaml.CSafeLoader) for _ in range(args.rounds))
    print(f"{len(files)} content files, best of {args.rounds}:")
    print(f"  SafeLoader (pure Python)   {python * 1000:8.1f} ms")
    print(f"  CSafeLoader (libyaml, used) {libyaml * 1000:8.1f} ms   {python / libyaml:.1f}x faster")


if __name__ == "__main__":
    main()
