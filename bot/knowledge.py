"""The sourced knowledge base (content/knowledge/*.yml) and the finder that
picks the entry that answers a question.

Why entries and not topics: on WhatsApp people read the first two lines, so a
question about the cost of a passport must get the passport answer (≤500
chars), not the whole cost topic. Programme staff edit these files by hand, so
every mistake is reported at start-up with the file and the entry id.

Why this retrieval model: people write informal Indonesian, Javanese and
Sundanese, with abbreviations and typos. Character n-grams (char_wb 2-5) catch
"biayanya"/"biaya", "brp"/"berapa" fragments and typos; word 1-2 grams catch
phrases. A linear classifier over entries (trained on each entry's questions
and title) separates similar entries, and cosine similarity to the nearest
example question keeps the score meaningful for the "clear" decision. The
combination was chosen by measuring on nlu/heldout/kb_heldout.yml (see
`nlu.eval_kb`); that file is never used for training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from bot.content import Content, ContentError, load_yaml
from bot.normalise import for_matching

INFO_INTENTS = ("tanya_syarat", "tanya_prosedur", "tanya_biaya", "cek_agen", "tanya_pelindungan", "tanya_usaha")
REQUIRED = ("id", "intent", "title", "questions", "answer", "sources", "reviewed")
MAX_ANSWER = 500


@dataclass(frozen=True)
class Entry:
    id: str
    intent: str
    title: str
    questions: tuple[str, ...]
    answer: str
    detail: str
    countries: tuple[str, ...]
    sources: tuple[str, ...]
    reviewed: str
    verified: bool
    related: tuple[str, ...]
    file: str = ""


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    score: float


@dataclass(frozen=True)
class Match:
    """What the finder thinks: the best entry, the top 3 with scores, and
    whether it is sure enough to answer without asking "Maksud Anda"."""

    best: Optional[Entry]
    candidates: tuple[Candidate, ...] = ()
    clear: bool = False
    # Sure enough that the runners-up are not worth offering ("Bukan ini?").
    sure: bool = False


# --- loading and checking -----------------------------------------------------
def _load(path: Path) -> Any:
    return load_yaml(path)


def _strings(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _check_filled(content: Content, text: str, where: str) -> None:
    left = re.findall(r"\{(\w+)\}", content.fill(text))
    if left:
        raise ContentError(f"{where}: isian '{{{left[0]}}}' tidak dikenal (yang ada: {sorted(content.hotlines)})")


def _known_countries(content: Content) -> set[str]:
    """Destination countries plus every country people may name (scam locations)."""
    known = set(content.countries)
    world = Path(content.directory) / "world_countries.yml"
    if world.exists():
        raw = _load(world)
        if isinstance(raw, dict) and isinstance(raw.get("world_countries"), dict):
            known.update(raw["world_countries"])
    return known


MIN_QUESTIONS = 4


def load_knowledge(directory: Path, content: Content) -> tuple[Entry, ...]:
    """Every entry of `directory/*.yml`, checked; raises ContentError naming file and entry."""
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise ContentError(f"{directory}: tidak ada file knowledge (*.yml)")
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    known_countries = _known_countries(content)
    for path in files:
        raw = _load(path)
        items = raw.get("entries") if isinstance(raw, dict) else None
        if not isinstance(items, list):
            raise ContentError(f"{path}: kolom 'entries' wajib berisi daftar entri")
        for index, item in enumerate(items):
            label = item.get("id") if isinstance(item, dict) and item.get("id") else f"entri ke-{index + 1}"
            where = f"{path} -> {label}"
            if not isinstance(item, dict):
                raise ContentError(f"{where}: entri harus berupa kolom-kolom (id, intent, ...)")
            for key in REQUIRED:
                if item.get(key) in (None, "", []):
                    raise ContentError(f"{where}: kolom '{key}' wajib diisi")
            if "verified" not in item or not isinstance(item["verified"], bool):
                raise ContentError(f"{where}: kolom 'verified' wajib diisi (true atau false)")
            entry_id = str(item["id"])
            if entry_id in seen:
                raise ContentError(f"{where}: id '{entry_id}' sudah dipakai di {seen[entry_id]}")
            seen[entry_id] = str(path)
            if item["intent"] not in INFO_INTENTS:
                raise ContentError(f"{where}: intent '{item['intent']}' tidak dikenal (pilih: {', '.join(INFO_INTENTS)})")
            answer = str(item["answer"]).strip()
            if len(answer) > MAX_ANSWER:
                raise ContentError(f"{where}: answer {len(answer)} huruf, maksimal {MAX_ANSWER}")
            detail = str(item.get("detail") or "").strip()
            _check_filled(content, answer, f"{where} -> answer")
            _check_filled(content, detail, f"{where} -> detail")
            applies = item.get("applies_to") or {}
            countries = _strings(applies.get("countries") if isinstance(applies, dict) else None)
            titled = content.country_from_text(str(item["title"]))
            if not countries and titled:
                countries = (titled,)  # "Syarat kerja ke Jepang" is about Japan
            for country in countries:
                if country not in known_countries:
                    raise ContentError(f"{where}: negara '{country}' di applies_to tidak ada di countries.yml/world_countries.yml")
            entries.append(
                Entry(
                    id=entry_id,
                    intent=str(item["intent"]),
                    title=str(item["title"]).strip(),
                    questions=_strings(item["questions"]),
                    answer=answer,
                    detail=detail,
                    countries=countries,
                    sources=_strings(item["sources"]),
                    reviewed=str(item["reviewed"]),
                    verified=item["verified"],
                    related=_strings(item.get("related")),
                    file=str(path),
                )
            )
    asked: dict[str, str] = {}
    for entry in entries:
        where = f"{entry.file} -> {entry.id}"
        if len(entry.questions) < MIN_QUESTIONS:
            raise ContentError(f"{where}: minimal {MIN_QUESTIONS} contoh pertanyaan (ada {len(entry.questions)})")
        for question in entry.questions:
            # The same question under two entries teaches the finder nothing but confusion.
            key = for_matching(question)
            if key in asked and asked[key] != entry.id:
                raise ContentError(f"{where}: pertanyaan \"{question}\" sudah ada di entri '{asked[key]}'")
            asked[key] = entry.id
        for other in entry.related:
            if other not in seen:
                raise ContentError(f"{where}: related '{other}' tidak ada")
    return tuple(entries)


# --- finding --------------------------------------------------------------------
@dataclass
class Settings:
    """Weights and thresholds; measured, see `nlu.eval_kb` and the README."""

    classifier_weight: float = 0.7
    intent_bonus: float = 0.08
    country_bonus: float = 0.08
    country_penalty: float = 0.30
    # A question that names no country is not about one country: "carane daftar
    # resmi piye?" wants the general steps, not "Kerja di Taiwan".
    unnamed_country_penalty: float = 0.06
    # Answer directly from here (issue 23: "Maksud Anda" only when two entries
    # are genuinely close, within 0.04). On nlu/heldout/kb_heldout.yml these answer most of
    # the questions directly (92.9%, 96.0% right; 0.45/0.10: 70% at 97%); below
    # the "sure" bar the answer comes with "Bukan ini, yang lain" and the runners-up.
    clear_score: float = 0.28
    clear_margin: float = 0.04
    # Below this gap the two best entries are a tie and the person chooses
    # ("Maksud Anda"); above it the best is answered with the runners-up one tap
    # away. On nlu/heldout/kb_heldout.yml the best of a close call (gap < 0.04)
    # was right 2 times in 3, so asking lost more than it saved.
    tie_margin: float = 0.015
    sure_score: float = 0.45
    sure_margin: float = 0.10
    min_score: float = 0.20


def load_same_words(path: Path) -> dict[str, str]:
    """content/same_words.yml as variant -> standard word ("yuswa" -> "umur").

    Why: the finder learns from example questions, and no list of examples
    holds every Javanese, Sundanese and slang word for the same thing; one
    shared table staff can extend does. Optional: without the file, no words
    are replaced."""
    if not path.exists():
        return {}
    raw = _load(path)
    table = raw.get("same_words") if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise ContentError(f"{path}: kolom 'same_words' wajib berisi kata baku -> daftar kata")
    variants: dict[str, str] = {}
    for standard, words in table.items():
        where = f"{path} -> {standard}"
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ContentError(f"{where}: tulis daftar kata, misalnya [usia, yuswa]")
        base = for_matching(str(standard))
        for word in words:
            key = for_matching(word)
            if key in variants and variants[key] != base:
                raise ContentError(f"{where}: kata '{word}' sudah dipakai untuk '{variants[key]}'")
            variants[key] = base
    return variants


def _replacer(same_words: dict[str, str]) -> Optional["re.Pattern[str]"]:
    if not same_words:
        return None
    # Longest first, so "tilar donya" wins over a shorter variant inside it.
    alternatives = sorted(same_words, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(a) for a in alternatives) + r")(?!\w)")


def _prepare(text: str, same_words: Optional[dict[str, str]] = None, pattern: Optional["re.Pattern[str]"] = None) -> str:
    matched = for_matching(text)
    if not same_words or pattern is None:
        return matched
    return pattern.sub(lambda found: same_words[found.group(0)], matched)


@dataclass
class KnowledgeFinder:
    """Built once per process (training takes about a second)."""

    entries: tuple[Entry, ...]
    settings: Settings = field(default_factory=Settings)
    # Variant -> standard word (content/same_words.yml), applied to examples and questions alike.
    same_words: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sklearn.pipeline import FeatureUnion
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        self.by_id = {entry.id: entry for entry in self.entries}
        self._pattern = _replacer(self.same_words)
        texts: list[str] = []
        labels: list[int] = []
        for index, entry in enumerate(self.entries):
            for example in (entry.title, *entry.questions):
                texts.append(self.prepare(example))
                labels.append(index)
        self._labels = np.array(labels)
        self._vectorizer = FeatureUnion(
            [
                ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
            ]
        )
        matrix = self._vectorizer.fit_transform(texts)
        self._examples = _normalise_rows(matrix)
        self._model = LinearSVC(C=1.0, class_weight="balanced")
        self._model.fit(matrix, self._labels)
        self._intents = np.array([entry.intent for entry in self.entries])
        self._countries = [set(entry.countries) for entry in self.entries]

    def prepare(self, text: str) -> str:
        return _prepare(text, self.same_words, self._pattern)

    def scores(self, text: str, intent: Optional[str] = None, country: Optional[str] = None) -> np.ndarray:
        """One score per entry, roughly 0..1."""
        vector = self._vectorizer.transform([self.prepare(text)])
        if vector.nnz == 0:
            return np.zeros(len(self.entries))
        similarity = (self._examples @ _normalise_rows(vector).T).toarray().ravel()
        nearest = np.zeros(len(self.entries))
        np.maximum.at(nearest, self._labels, similarity)
        decision = self._model.decision_function(vector).ravel()
        # Map the SVM margin (about -1..1) onto 0..1 so both parts weigh alike.
        svm = np.clip((decision + 1.0) / 2.0, 0.0, 1.0)
        weight = self.settings.classifier_weight
        combined = weight * svm + (1 - weight) * nearest
        if intent in INFO_INTENTS:
            combined = combined + self.settings.intent_bonus * (self._intents == intent)
        for index, countries in enumerate(self._countries):
            if not countries:
                continue
            if not country:
                combined[index] -= self.settings.unnamed_country_penalty
            elif country in countries:
                combined[index] += self.settings.country_bonus
            else:
                combined[index] -= self.settings.country_penalty
        return combined

    def find(self, text: str, intent: Optional[str] = None, country: Optional[str] = None) -> Match:
        combined = self.scores(text, intent, country)
        order = np.argsort(-combined)[:3]
        candidates = tuple(Candidate(self.entries[i], float(combined[i])) for i in order)
        top = candidates[0].score
        if top < self.settings.min_score:
            return Match(best=None, candidates=candidates)  # nothing fits
        second = candidates[1].score if len(candidates) > 1 else 0.0
        clear = top >= self.settings.clear_score and top - second >= self.settings.clear_margin
        sure = top >= self.settings.sure_score and top - second >= self.settings.sure_margin
        return Match(best=candidates[0].entry, candidates=candidates, clear=clear, sure=sure)

    def related(self, entry: Entry) -> list[Entry]:
        return [self.by_id[i] for i in entry.related if i in self.by_id]


def _normalise_rows(matrix: Any) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(matrix)


_cache: dict[str, tuple[tuple[Entry, ...], KnowledgeFinder]] = {}


def knowledge_for(content: Content) -> tuple[tuple[Entry, ...], KnowledgeFinder]:
    """Entries and finder for this content directory, built once per process."""
    key = str(Path(content.directory).resolve())
    if key not in _cache:
        entries = load_knowledge(Path(content.directory) / "knowledge", content)
        same_words = load_same_words(Path(content.directory) / "same_words.yml")
        _cache[key] = (entries, KnowledgeFinder(entries, same_words=same_words))
    return _cache[key]


def finder_for(content: Content) -> KnowledgeFinder:
    return knowledge_for(content)[1]


def all_questions(entries: Iterable[Entry]) -> list[tuple[str, str]]:
    return [(question, entry.id) for entry in entries for question in entry.questions]


MAX_SHORT = 400
_shorts: dict[str, dict[str, str]] = {}


def topic_shorts(content: Content) -> dict[str, str]:
    """The ≤400-char `short` text of each topic in answers.yml: what a person
    gets when no entry fits (the long `text` stays for "Penjelasan lengkap")."""
    key = str(Path(content.directory).resolve())
    if key not in _shorts:
        path = Path(content.directory) / "answers.yml"
        raw = (_load(path) or {}).get("answers") or {}
        shorts: dict[str, str] = {}
        for intent, item in raw.items():
            text = str((item or {}).get("short") or "").strip()
            if not text:
                continue
            where = f"{path} -> {intent} -> short"
            if len(text) > MAX_SHORT:
                raise ContentError(f"{where}: {len(text)} huruf, maksimal {MAX_SHORT}")
            _check_filled(content, text, where)
            shorts[str(intent)] = text
        _shorts[key] = shorts
    return _shorts[key]
