"""Content files are validated at start-up with messages that name the file and entry."""

from __future__ import annotations

import shutil
import re
from pathlib import Path

import pytest
import yaml

from bot.content import ContentError, load_content
from bot.config import PROJECT_ROOT

CONTENT = PROJECT_ROOT / "content"


def test_shipped_content_loads_and_every_answer_is_sourced() -> None:
    content = load_content(CONTENT)
    for key, answer in content.answers.items():
        assert answer.sources and re.fullmatch(r"\d{4}-\d{2}-\d{2}", answer.reviewed), key
        assert len(content.fill(answer.text)) <= 1200, f"{key} is too long for one WhatsApp message"
    facts = (PROJECT_ROOT.parent / "shared" / "reference" / "facts.md")
    if facts.exists():
        verified_numbers = set(re.findall(r"\*\*([+\d][\d \-]+\d)\*\*", facts.read_text()))
        for hotline in content.hotlines.values():
            assert hotline.number in verified_numbers, f"{hotline.key} is not a verified number"


def test_no_phone_number_is_typed_into_answer_texts() -> None:
    content = load_content(CONTENT)
    texts = [a.text for a in content.answers.values()] + [content.emergency.text]
    texts += [c.note.text for c in content.countries.values() if c.note]
    for text in texts:
        assert not re.search(r"\d{4}[- ]?\d{3,}", text), text[:80]


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


def test_missing_source_is_reported_with_file_and_entry(tmp_path: Path) -> None:
    content_dir = _copy(tmp_path)
    data = yaml.safe_load((content_dir / "answers.yml").read_text())
    del data["answers"]["tanya_biaya"]["sources"]
    (content_dir / "answers.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ContentError, match=r"answers\.yml -> tanya_biaya: kolom 'sources'"):
        load_content(content_dir)


def test_unknown_placeholder_is_reported(tmp_path: Path) -> None:
    content_dir = _copy(tmp_path)
    data = yaml.safe_load((content_dir / "answers.yml").read_text())
    data["answers"]["tanya_biaya"]["text"] += " Hubungi {bp2m}."
    (content_dir / "answers.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ContentError, match="bp2m"):
        load_content(content_dir)


def test_broken_yaml_and_bad_pattern_are_reported(tmp_path: Path) -> None:
    content_dir = _copy(tmp_path)
    (content_dir / "menu.yml").write_text("main_menu: [\n")
    with pytest.raises(ContentError, match="menu.yml: YAML tidak valid"):
        load_content(content_dir)
    content_dir = _copy(tmp_path / "again")
    data = yaml.safe_load((content_dir / "safety.yml").read_text())
    data["danger_patterns"].append("(unclosed")
    (content_dir / "safety.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ContentError, match=r"danger_patterns\[\d+\]"):
        load_content(content_dir)


