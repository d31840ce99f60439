"""The floors of the house (docs/architecture.md), enforced on every import.

Reads the source with the standard library's `ast` (no import is executed) and
checks every `import` and `from ... import`, including those inside functions
and `if TYPE_CHECKING:` blocks. `check(module, source)` is the whole checker,
so the last tests run it on small synthetic sources: each back-arrow named in
issue 17 must be caught, with the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "flows", "nlu")

# The ground floor: message shapes, time, text normalising, settings, log
# masking, storage and content (bot.knowledge reads the knowledge base content,
# bot.csv_safe writes private CSV files for the CLIs).
GROUND = (
    "bot.messages",
    "bot.clock",
    "bot.normalise",
    "bot.config",
    "bot.privacy",
    "bot.storage",
    "bot.content",
    "bot.knowledge",
    "bot.csv_safe",
    "bot.message_templates",
)
TURN = ("bot.turn",)
OUTBOX = ("bot.outbox",)
DOMAIN = ("bot.domain",)
CLASSIFIER = ("nlu.classifier",)
FLOWS = ("flows",)
# Features: each plugged in by bot.app and knowing nothing of the others.
# Everything else in flows/ is a shared helper (dialogue, forms, reading,
# safety, answers, village_question, feature, case_talk, idle_cases,
# consent_question).
FEATURES = ("flows.complaints", "flows.trainings", "flows.satgas", "flows.deletion", "flows.subscriptions")
CHANNELS = ("bot.channels",)
CLIS = ("bot.cli", "bot.training_cli")
CONSOLE = ("bot.kelola",)
# The nlu tools that build a bot or read its content to report on it.
NLU_TOOLS_USING_THE_BOT = ("nlu.report", "nlu.safety_report", "nlu.eval_kb", "nlu.eval_blind")
# Registering oneself at import time looks like `ERASERS.append(...)` at module level.
REGISTERING_METHODS = {"append", "extend", "add", "update", "insert", "register", "setdefault"}


def within(module: str, floors: tuple[str, ...]) -> bool:
    return any(module == floor or module.startswith(floor + ".") for floor in floors)


def project(module: str) -> bool:
    return within(module, PACKAGES)


# --- reading imports -------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(module: str, source: str, is_package: bool = False) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import anywhere in the source."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if project(submodule) and is_module(submodule):
                    yield submodule, "", node.lineno  # `from flows import complaints`
                else:
                    yield base, alias.name, node.lineno


def registrations(source: str) -> Iterator[int]:
    """Lines of module-level statements like `ERASERS.append(eraser)` (also under a top-level if/try)."""
    body = list(ast.parse(source).body)
    while body:
        node = body.pop(0)
        if isinstance(node, (ast.If, ast.Try)):
            body.extend(node.body + node.orelse + getattr(node, "finalbody", []))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr in REGISTERING_METHODS:
                yield node.lineno


# --- the rules -------------------------------------------------------------------
def rule_broken(module: str, target: str) -> Optional[str]:
    """The first floor rule `module` breaks by importing `target`, or None."""
    if not project(target) or within(target, (module,)):
        return None
    if within(module, GROUND) and not within(target, GROUND):
        return "ground floor imports nothing above the ground"
    if within(module, TURN) and not within(target, GROUND + CLASSIFIER):
        return "bot.turn imports only the ground (and the classifier's interface)"
    if within(module, OUTBOX) and not within(target, GROUND):
        return "bot.outbox imports only the ground"
    if within(module, DOMAIN) and not within(target, GROUND + DOMAIN):
        return "bot.domain imports only the ground"
    if within(module, FLOWS):
        if within(target, ("bot.core", "bot.app", "bot.outbox", "bot.channels", "bot.config")):
            return "flows never import core, app, outbox, channels or config"
        if not within(target, GROUND + TURN + DOMAIN + CLASSIFIER + FLOWS):
            return "flows import only ground, turn, domain, nlu.classifier and flows"
        if within(module, FEATURES) and within(target, FEATURES):
            return "no feature imports another feature"
    if within(module, ("bot.core",)) and within(target, FLOWS):
        return "core never imports flows"
    if within(module, CHANNELS) and within(target, FLOWS + DOMAIN):
        return "channels never import flows or domain"
    if within(module, CLIS) and within(target, FLOWS):
        return "the CLIs use the domain, never flows"
    if within(module, CONSOLE) and within(target, FLOWS + CHANNELS):
        return "the web console uses the domain, never flows or channels"
    if within(module, ("bot",)) and module != "bot.app" and within(target, FLOWS):
        return "bot.app is the only bot module that imports flows"
    if within(module, ("nlu",)) and not within(module, NLU_TOOLS_USING_THE_BOT) and within(target, ("bot",) + FLOWS):
        return "nlu imports nothing from bot or flows (except the listed report tools)"
    return None


def check(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every layer rule `module` (its source given) breaks, one line each."""
    broken = []
    for target, name, line in imports(module, source, is_package):
        rule = rule_broken(module, target)
        if rule:
            broken.append(f"{module}:{line} imports {target}: {rule}")
        if name.startswith("_") and not name.startswith("__") and project(target) and target != module:
            broken.append(f"{module}:{line} imports private {target}.{name}: private names stay in their module")
    if within(module, FLOWS + DOMAIN):
        for line in registrations(source):
            broken.append(f"{module}:{line} registers at import time: features are plugged in by bot.app")
    return list(dict.fromkeys(broken))  # one line per broken rule, however many names the import takes


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


# --- the house as it is --------------------------------------------------------------
def test_the_floors_are_respected() -> None:
    broken = [
        problem
        for path in sources()
        for problem in check(module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
    ]
    assert broken == []


def test_the_checker_sees_the_whole_house() -> None:
    names = {module_name(path) for path in sources()}
    assert {"bot.core", "bot.app", "bot.turn", "bot.domain.trainings", "flows.trainings", "bot.channels.telegram"} <= names
    for module in FEATURES + CLIS + NLU_TOOLS_USING_THE_BOT:
        assert module in names, f"{module} is named in a rule but does not exist"


def test_imports_inside_functions_and_relative_imports_are_read() -> None:
    source = "def later():\n    from flows.trainings import show_trainings\n"
    assert [t for t, _, _ in imports("bot.core", source)] == ["flows.trainings"]
    assert [t for t, _, _ in imports("bot.channels.telegram", "from . import intake\n")] == ["bot.channels.intake"]
    assert [t for t, _, _ in imports("flows.satgas", "from flows import complaints\n")] == ["flows.complaints"]


# --- the back-arrows of issue 17, each caught -------------------------------------------
BACK_ARROWS = [
    ("bot.core", "from flows.dialogue import Dialogue\n", "core never imports flows"),
    ("bot.core", "from flows.turn import Turn\n", "core never imports flows"),
    ("bot.channels.telegram", "from flows.satgas import COMMAND\n", "channels never import flows or domain"),
    ("bot.channels.telegram", "from bot.domain.cases import CODE_ALPHABET\n", "channels never import flows or domain"),
    ("bot.training_cli", "from flows.trainings import registrants_report\n", "the CLIs use the domain, never flows"),
    ("flows.feature", "from bot.outbox import Subjects, queue\n", "flows never import core, app, outbox, channels or config"),
    ("flows.trainings", "from bot.config import Settings\n", "flows never import core, app, outbox, channels or config"),
    ("flows.satgas", "from flows.complaints import settings_of\n", "no feature imports another feature"),
    ("flows.satgas", "def f():\n    from flows.trainings import registrants_report\n", "no feature imports another feature"),
    ("flows.complaints", "from flows.deletion import ERASERS\n", "no feature imports another feature"),
    ("bot.domain.catalog", "from flows.trainings import upcoming\n", "bot.domain imports only the ground"),
    ("bot.domain.cases", "from bot.outbox import queue\n", "bot.domain imports only the ground"),
    ("bot.content", "from bot.domain.cases import Case\n", "ground floor imports nothing above the ground"),
    ("bot.turn", "from flows.dialogue import Dialogue\n", "bot.turn imports only the ground (and the classifier's interface)"),
    ("bot.outbox", "from bot.turn import Notification\n", "bot.outbox imports only the ground"),
    ("bot.web", "from flows.satgas import is_group_command\n", "bot.app is the only bot module that imports flows"),
    ("bot.kelola.pages", "from flows.satgas import ACTIONS\n", "the web console uses the domain, never flows or channels"),
    ("nlu.classifier", "from bot.content import Content\n", "nlu imports nothing from bot or flows (except the listed report tools)"),
]


@pytest.mark.parametrize("module,source,rule", BACK_ARROWS, ids=[f"{m}<-{s.split()[1]}" for m, s, _ in BACK_ARROWS])
def test_each_back_arrow_of_the_issue_is_caught(module: str, source: str, rule: str) -> None:
    assert any(problem.endswith(rule) for problem in check(module, source)), check(module, source)


def test_registering_at_import_time_is_caught() -> None:
    source = "from bot.domain.personal_data import Eraser\nERASERS = []\nif True:\n    ERASERS.append(erase_cases)\n"
    assert check("flows.complaints", source) == [
        "flows.complaints:4 registers at import time: features are plugged in by bot.app"
    ]


def test_importing_a_private_name_is_caught() -> None:
    [problem] = check("bot.domain.catalog", "from bot.content import ContentError, _load_yaml\n")
    assert problem.endswith("private names stay in their module")


def test_allowed_arrows_pass() -> None:
    assert check("flows.satgas", "from bot.domain import cases\nfrom bot.turn import Turn\nfrom flows.forms import Step\n") == []
    assert check("bot.app", "from flows import complaints\nfrom bot.core import Core\n") == []
    assert check("nlu.safety_report", "from bot.app import build_bot\n") == []
