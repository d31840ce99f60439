"""Reading a typed answer the way a person meant it.

People on WhatsApp rarely type the number of an option: they write "nggak deh,
takut datanya kemana-mana", "kakak saya", "udah 2 mingguan" or "telpon aja".
These readers turn such words into the value a form step expects, using the
word lists of content/words.yml, and say None when they are not sure, so the
form asks again instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence


from bot.content import ContentError, load_yaml
from bot.normalise import for_matching


@dataclass(frozen=True)
class Lexicon:
    yes: frozenset[str]
    no: frozenset[str]
    dont_know: frozenset[str]
    question_words: frozenset[str]
    self_words: frozenset[str]
    relatives: Mapping[str, frozenset[str]]
    possessive_words: frozenset[str]
    possessive_suffixes: tuple[str, ...]
    danger_cues: tuple[str, ...]
    danger_cue_unless: Mapping[str, frozenset[str]]
    numbers: Mapping[str, int]
    duration_units: Mapping[str, int]
    duration_words: Mapping[str, int]
    steering: Mapping[str, frozenset[str]]
    thanks: frozenset[str] = frozenset()
    satgas_words: Mapping[str, frozenset[str]] = field(default_factory=dict)
    greetings: frozenset[str] = frozenset()
    hotline_number_words: frozenset[str] = frozenset()
    hotline_about_words: frozenset[str] = frozenset()
    hotline_where_words: frozenset[str] = frozenset()
    # "nek nelpon soko arab piye": calling FROM abroad (words.yml hotline_question.from_words + abroad_words).
    hotline_from_words: frozenset[str] = frozenset()
    hotline_abroad_words: frozenset[str] = frozenset()
    # Words people wrap around what they mean ("eh", "aja deh", "dulu", "ya min").
    fillers: frozenset[str] = frozenset()
    # The steering phrases with those fillers taken out, compared with a message
    # that had them taken out too.
    steering_plain: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # One-word steering that counts inside a longer message ("udah batal aja").
    steering_alone_ok: frozenset[str] = frozenset()
    # Cancel and later phrases as typed and respelled (two words or more, or "batal"),
    # looked for at the opening of a message (see _opening_kind); built once here.
    steering_openers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Question words that make a question wherever they stand ("harus lapor ke disnaker ga").
    question_anywhere: frozenset[str] = frozenset()
    question_tails: frozenset[str] = frozenset()
    # "gaji adik saya belum dibayar": a concrete problem told, not a topic asked about.
    problem_phrases: frozenset[str] = frozenset()
    # "status ADU-7K3P gimana", "laporan saya sampai mana": an existing report asked about.
    status_words: frozenset[str] = frozenset()
    # "mung takon", "nanya aja": the writer marks a question as hypothetical.
    just_asking: frozenset[str] = frozenset()
    # "mau lapor, ...": a report asked for in so many words.
    report_requests: frozenset[str] = frozenset()
    # "pelatihan", "kursus": a question about registering that names a training.
    training_words: frozenset[str] = frozenset()
    migration_training_words: frozenset[str] = frozenset()
    # "desa saya ga ada di daftar" at the village question.
    not_listed: frozenset[str] = frozenset()
    village_words: frozenset[str] = frozenset()
    # Words between a relative and the possessive ("kakak perempuan saya").
    relative_qualifiers: frozenset[str] = frozenset()
    # Follow-ups to the last answer in words: detail, source.
    followups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The same, respelled once here like the messages they are compared with.
    followups_respelled: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # "tlg dicatat ya", "aku bingung kudu piye": a story that asks for help, not information.
    help_requests: frozenset[str] = frozenset()
    # "ga usah disimpan datanya": the person does not want their data kept.
    no_data: frozenset[str] = frozenset()
    # Chat spellings read as the word they stand for ("jgn" -> "jangan", "gajadi" -> "ga jadi").
    spelling: Mapping[str, str] = field(default_factory=dict)
    # A question ABOUT danger, not danger now (see asks_about_danger).
    danger_question: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # "nomor ini aja", "lewat wa mawon" at a phone question: the number they write from.
    this_number: frozenset[str] = frozenset()
    # Short kin words people also use to address whoever answers ("mbak, aku ...").
    address_words: frozenset[str] = frozenset()
    # Pronouns that, right after such an address, begin the writer's own story.
    first_person: frozenset[str] = frozenset()


def _words(raw: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list):
        raise ContentError(f"{where}: harus berupa daftar kata")
    words = set()
    for index, item in enumerate(raw):
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise ContentError(f"{where}[{index}]: tulis kata di dalam tanda kutip, misalnya \"ya\"")
        words.add(for_matching(str(item)) or str(item))
    return frozenset(words)


@lru_cache(maxsize=8)
def load_lexicon(directory: Path) -> Lexicon:
    path = directory / "words.yml"
    raw = load_yaml(path) or {}

    def table(key: str) -> Mapping[str, int]:
        entries: dict[str, int] = {}
        for value, words in (raw.get(key) or {}).items():
            for word in _words(words, f"{path} -> {key} -> {value}"):
                entries[word] = int(value)
        return entries

    steering = {
        str(key): _words(words, f"{path} -> steering -> {key}")
        for key, words in (raw.get("steering") or {}).items()
    }
    fillers = _words(raw.get("fillers") or [], f"{path} -> fillers")
    spelling = _spelling_table(raw.get("spelling") or {}, f"{path} -> spelling")
    alone_ok = _words(raw.get("steering_alone_ok") or [], f"{path} -> steering_alone_ok")
    followups = {
        str(key): _words(words, f"{path} -> followups -> {key}") for key, words in (raw.get("followups") or {}).items()
    }
    return Lexicon(
        yes=_words(raw.get("yes_words"), f"{path} -> yes_words"),
        no=_words(raw.get("no_words"), f"{path} -> no_words"),
        dont_know=_words(raw.get("dont_know"), f"{path} -> dont_know"),
        question_words=_words(raw.get("question_words"), f"{path} -> question_words"),
        self_words=_words(raw.get("self_words"), f"{path} -> self_words"),
        relatives={
            str(key): _words(words, f"{path} -> relatives -> {key}")
            for key, words in (raw.get("relatives") or {}).items()
        },
        possessive_words=_words(raw.get("possessive_words"), f"{path} -> possessive_words"),
        possessive_suffixes=tuple(sorted(_words(raw.get("possessive_suffixes"), "suffixes"), key=len, reverse=True)),
        danger_cues=tuple(sorted(_words(raw.get("danger_cues"), f"{path} -> danger_cues"))),
        danger_cue_unless={
            str(cue): _words(words, f"{path} -> danger_cue_unless -> {cue}")
            for cue, words in (raw.get("danger_cue_unless") or {}).items()
        },
        numbers=table("numbers"),
        duration_units=table("durations"),
        duration_words=table("duration_words"),
        thanks=_words(raw.get("thanks") or [], f"{path} -> thanks"),
        satgas_words={
            str(kind): _words(words, f"{path} -> satgas_words -> {kind}")
            for kind, words in (raw.get("satgas_words") or {}).items()
        },
        greetings=_words(raw.get("greetings") or [], f"{path} -> greetings"),
        hotline_number_words=_words((raw.get("hotline_question") or {}).get("number_words", []), f"{path} -> hotline_question"),
        hotline_about_words=_words((raw.get("hotline_question") or {}).get("about_words", []), f"{path} -> hotline_question"),
        hotline_where_words=_words((raw.get("hotline_question") or {}).get("where_words", []), f"{path} -> hotline_question"),
        hotline_from_words=_words((raw.get("hotline_question") or {}).get("from_words", []), f"{path} -> hotline_question"),
        hotline_abroad_words=_words((raw.get("hotline_question") or {}).get("abroad_words", []), f"{path} -> hotline_question"),
        steering=steering,
        fillers=fillers,
        danger_question={
            str(kind): _words(words, f"{path} -> danger_question -> {kind}")
            for kind, words in (raw.get("danger_question") or {}).items()
        },
        this_number=_words(raw.get("this_number") or [], f"{path} -> this_number"),
        address_words=_words(raw.get("address_words") or [], f"{path} -> address_words"),
        first_person=_words(raw.get("first_person") or [], f"{path} -> first_person"),
        spelling=spelling,
        help_requests=_plain(_words(raw.get("help_requests") or [], f"{path} -> help_requests"), spelling, fillers),
        no_data=frozenset(" ".join(_respell(spelling, p.split())) for p in _words(raw.get("no_data") or [], f"{path} -> no_data")),
        steering_plain={kind: _plain(words, spelling, fillers) for kind, words in steering.items()},
        steering_alone_ok=alone_ok,
        steering_openers={
            kind: tuple(
                " ".join(_respell(spelling, phrase.split()))
                for phrase in steering.get(kind, frozenset())
                if len(phrase.split()) >= 2 or phrase in alone_ok
            )
            for kind in ("cancel", "later")
        },
        question_anywhere=_words(raw.get("question_anywhere") or [], f"{path} -> question_anywhere"),
        question_tails=_words(raw.get("question_tails") or [], f"{path} -> question_tails"),
        problem_phrases=_words(raw.get("problem_phrases") or [], f"{path} -> problem_phrases"),
        status_words=_words(raw.get("status_words") or [], f"{path} -> status_words"),
        just_asking=_words(raw.get("just_asking") or [], f"{path} -> just_asking"),
        report_requests=_words(raw.get("report_requests") or [], f"{path} -> report_requests"),
        training_words=_words(raw.get("training_words") or [], f"{path} -> training_words"),
        migration_training_words=_words(raw.get("migration_training_words") or [], f"{path} -> migration_training_words"),
        not_listed=_words(raw.get("village_not_listed") or [], f"{path} -> village_not_listed"),
        village_words=_words(raw.get("village_words") or [], f"{path} -> village_words"),
        relative_qualifiers=_words(raw.get("relative_qualifiers") or [], f"{path} -> relative_qualifiers"),
        followups=followups,
        followups_respelled={
            kind: frozenset(" ".join(_respell(spelling, w.split())) for w in words) for kind, words in followups.items()
        },
    )


def _tokens(text: str) -> list[str]:
    return for_matching(text).split()


def respelled(lexicon: Lexicon, text: str) -> list[str]:
    """The message's words with chat spellings read as the words they stand for."""
    return _respell(lexicon.spelling, _tokens(text))


def followup_phrases(lexicon: Lexicon, kind: str) -> frozenset[str]:
    """words.yml `followups` of one kind, respelled like the messages they are compared with."""
    return lexicon.followups_respelled.get(kind, frozenset())


def _plain(phrases: Iterable[str], spelling: Mapping[str, str], fillers: frozenset[str]) -> frozenset[str]:
    """Listed phrases as messages are compared with them: chat spellings read,
    fillers dropped ("tolong dicatat ya" -> "dicatat"); a phrase of fillers only
    stays as written, so it can never become an empty phrase that fits anything."""
    return frozenset(" ".join(w for w in _respell(spelling, p.split()) if w not in fillers) or p for p in phrases)


def _spelling_table(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: tulis kata baku: [ejaan, ejaan, ...]")
    table: dict[str, str] = {}
    for standard, spellings in raw.items():
        for spelled in _words(spellings, f"{where} -> {standard}"):
            table[spelled] = for_matching(str(standard))
    return table


_REDUPLICATED = re.compile(r"^([a-z]{3,})2$")


def _respell(spelling: Mapping[str, str], tokens: Sequence[str]) -> list[str]:
    """"jgn kirim2 pesan" -> "jangan kirim pesan": chat spellings and the "2"
    of a doubled word, so one listed phrase reads every way it is typed."""
    words: list[str] = []
    for token in tokens:
        doubled = _REDUPLICATED.match(token)
        token = doubled.group(1) if doubled else token
        if token not in spelling and token.startswith("dipun") and len(token) > 7:
            token = "di" + token[5:]  # krama passive written as one word: "dipuncathet" = "dicathet"
        words.extend(spelling.get(token, token).split())
    return words


def _starts_with(tokens: Sequence[str], words: Iterable[str]) -> Optional[str]:
    """The longest listed phrase the message starts with."""
    best = None
    for phrase in words:
        parts = phrase.split()
        if parts and tokens[: len(parts)] == parts and (best is None or len(phrase) > len(best)):
            best = phrase
    return best


def _contains(tokens: Sequence[str], phrase: str) -> bool:
    parts = phrase.split()
    return any(tokens[i : i + len(parts)] == parts for i in range(len(tokens) - len(parts) + 1))


# --- yes / no ---------------------------------------------------------------
def yes_or_no(lexicon: Lexicon, text: str) -> Optional[bool]:
    """"nggak deh, takut datanya kemana-mana" is a no; "iya boleh" a yes.

    The first words decide (people answer first, explain after); a message
    that starts with a "don't know" is neither.
    """
    tokens = _tokens(text)
    if not tokens:
        return None
    if _starts_with(tokens, lexicon.dont_know) and len(_starts_with(tokens, lexicon.dont_know) or "") > 2:
        return None
    no = _starts_with(tokens, lexicon.no)
    yes = _starts_with(tokens, lexicon.yes)
    if no and (not yes or len(no) >= len(yes)):
        return False
    if yes:
        if len(tokens) > 1 and tokens[1] in ("tidak", "ga", "gak", "nggak", "ora", "henteu", "teu") and yes in ("bisa", "mau", "boleh"):
            return None  # "bisa tidak ..." is a question
        return True
    if len(tokens) <= 6:
        for token_index, token in enumerate(tokens[:4]):
            if token in ("setuju", "satuju", "boleh", "bersedia"):
                before = tokens[token_index - 1] if token_index else ""
                return before not in lexicon.no
    return None


def says_dont_know(lexicon: Lexicon, text: str) -> bool:
    tokens = _tokens(text)
    return bool(tokens) and len(tokens) <= 6 and any(_contains(tokens, phrase) for phrase in lexicon.dont_know)


# --- questions --------------------------------------------------------------
def looks_like_question(lexicon: Lexicon, text: str) -> bool:
    """A question, however it is typed: "?" at the end, a question word among
    the first three words ("lho emang bikin paspor harus bayar?"), a question
    word that asks wherever it stands ("pas pulang cuti lapor ke mana"), or a
    closing "ga"/"ora"/"teu" ("harus lapor ke disnaker ga", issue 23)."""
    if "?" in text:
        return True  # "jenazahe sing mulihke sopo? mung takon": the mark need not end the message
    tokens = _tokens(text)
    if len(tokens) < 3:
        return False
    if any(_starts_with(tokens[i:], lexicon.question_words) for i in range(min(3, len(tokens)))):
        return True
    if any(_contains(tokens, phrase) for phrase in lexicon.question_anywhere):
        return True
    trimmed = [t for t in tokens if t not in _PARTICLES]
    if trimmed and trimmed[-1] in lexicon.question_tails:
        return True
    if len(trimmed) >= 4 and any(
        trimmed[i] in _OR_WORDS and not set(trimmed[max(i - 3, 0) : i]) & _KNOW_WORDS for i in (-3, -2)
    ):
        return True  # "kudu teko langsung opo online", "buku nikah asli opo fotokopine": X or Y?
    return _asks_before_a_clause(lexicon, text)


# "X opo Y" near the end of a message asks which of two (Javanese "opo", Indonesian "apa").
_OR_WORDS = {"opo", "apa", "napa", "menapa", "punapa", "atawa", "or"}
# "ga tau salah apa": not knowing what, told, not asked.
_KNOW_WORDS = {"tau", "tahu", "ngerti", "weruh", "ngertos", "terang", "apal", "paham"}


# "bpjs nanggung santunan ora, nek pmi tilar donya ...": a yes/no question
# closed by one of these words, then a comma or an "if" clause.
_CLAUSE_TAILS = {"ga", "gak", "gk", "nggak", "ngga", "enggak", "engga", "ora", "teu", "henteu", "mboten", "kah", "po", "to", "tah"}
_IF_WORDS = {"nek", "yen", "kalau", "kalo", "klo", "lamun", "upami", "menawi", "misal", "misalnya", "if"}


# "ono modal maneh ora nggo purna", "harus aktif lg ga buat daftar": a clause
# that opens with "is there / can / must" and holds a "not" a few words on is a
# yes/no question in Javanese, Sundanese and chat Indonesian.
_YES_NO_OPENERS = {"ada", "ono", "ana", "onten", "wonten", "aya", "bisa", "bs", "iso", "isa", "saged", "tiasa", "boleh",
                   "oleh", "entuk", "angsal", "kenging", "meunang", "harus", "hrs", "kudu", "kedah", "perlu", "wajib"}
_YES_NO_NOTS = {"ga", "gak", "gk", "nggak", "ngga", "enggak", "engga", "tidak", "tdk", "ora", "ra", "teu", "henteu", "mboten", "belum", "blm", "durung", "dereng", "acan"}


# Question words that also open statements ("mana gajinya belum dibayar", "cara kerjanya ...").
_AMBIGUOUS_OPENERS = {"mana", "cara", "caranya", "tanya", "nanya", "emang", "memang", "emangnya", "memangnya", "syaratnya", "biayanya", "naha"}
# Idioms that open statements with a question word: "kapan hari" (the other day), "siapa tau" (maybe).
_STATEMENT_IDIOMS = {"kapan hari", "siapa tau", "siapa tahu", "sapa ngerti", "sopo ngerti", "apa lagi", "apa apa", "opo maneh", "saha nyaho"}
_PURPOSE_WORDS = {"buat", "untuk", "utk", "nggo", "go", "kanggo", "kangge", "pikeun", "for", "kalo", "kalau", "nek", "lamun",
                  "atau", "ato", "opo", "apa", "atawa", "or"}


def _asks_yes_or_no(words: Sequence[str]) -> bool:
    """The "not" closes the clause or comes before its purpose ("ora nggo purna"):
    "ada masalah gaji ga dibayar" is a statement."""
    if len(words) < 3 or words[0] not in _YES_NO_OPENERS:
        return False
    return any(
        word in _YES_NO_NOTS and (index == len(words) - 1 or words[index + 1] in _PURPOSE_WORDS)
        for index, word in enumerate(words[2:8], start=2)
    )


def _asks_before_a_clause(lexicon: Lexicon, text: str) -> bool:
    clauses = re.split(r"[,;]", text)
    for clause in clauses[:-1]:
        words = [t for t in _tokens(clause) if t not in _PARTICLES]
        if len(words) >= 3 and words[-1] in _CLAUSE_TAILS:
            return True
    if len(clauses) > 1 and any(_asks_yes_or_no([t for t in _tokens(c) if t not in _PARTICLES]) for c in clauses[1:]):
        return True
    for clause in clauses[1:]:
        # "suami sy mau ke taiwan jadi abk, apa yg perlu diwaspadai": the question opens a later clause.
        words = [t for t in _tokens(clause) if t not in _PARTICLES]
        if (
            len(words) >= 2
            and words[0] not in _AMBIGUOUS_OPENERS
            and " ".join(words[:2]) not in _STATEMENT_IDIOMS
            and _starts_with(words, lexicon.question_words)
        ):
            return True
    tokens = _tokens(text)
    return any(
        tokens[i] in _CLAUSE_TAILS and tokens[i + 1] in _IF_WORDS and i >= 2 for i in range(len(tokens) - 1)
    )


# --- who is writing ---------------------------------------------------------
def relative_in(lexicon: Lexicon, text: str) -> Optional[str]:
    """The relation value when the writer speaks of their own relative.

    "kakak saya", "adikku", "bojoku", "anak kulo", "ibu kami": the writer is
    family, not the worker. A bare "ibu" could be a polite address ("Bu"), so
    a possessive is required unless the word itself is unambiguous.
    """
    tokens = _tokens(text)
    opening = _address_at_start(lexicon, text, tokens)
    for index, token in enumerate(tokens):
        if index == opening:
            continue  # "mbak, aku dikunci": the operator addressed, then the writer's own story
        for relation, words in lexicon.relatives.items():
            base = _strip_possessive(lexicon, token, words)
            if base is None:
                continue
            after = index + 1
            while after < len(tokens) and after <= index + 3 and tokens[after] in lexicon.relative_qualifiers:
                after += 1  # "kakak perempuan saya", "adik laki laki kula"
            following = tokens[after] if after < len(tokens) else ""
            before = tokens[index - 1] if index else ""
            if base != token or following in lexicon.possessive_words or before in ("my", "our"):
                return relation  # "adik saya", "adikku", English "my sister"
    return None


def _address_at_start(lexicon: Lexicon, text: str, tokens: list[str]) -> Optional[int]:
    """The index of a kin word used as an address at the start of a message:
    "mbak, ..." (a comma after it), or a short address word followed by the
    writer's own pronoun ("kak aku dikunciin", "teh abdi teu meunang kaluar").
    A person in danger who writes so must get the text for the person in
    danger, not the one for a relative at home; "kakak saya" and "mbakku" stay
    relatives."""
    index = 0
    while index < len(tokens) and tokens[index] in lexicon.greetings:
        index += 1  # "halo mbak, ..."
    if index >= len(tokens):
        return None
    word = tokens[index]
    first = re.search(rf"(?i)\b{re.escape(word)}\b", text)
    if first is not None and text[first.end():].lstrip()[:1] in (",", ".", "!", ":"):
        return index
    following = tokens[index + 1] if index + 1 < len(tokens) else ""
    if word in lexicon.address_words and following in lexicon.first_person:
        return index
    return None


def _strip_possessive(lexicon: Lexicon, token: str, words: frozenset[str]) -> Optional[str]:
    if token in words:
        return token
    for suffix in lexicon.possessive_suffixes:
        if token.endswith(suffix) and token[: -len(suffix)] in words and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return None


_NAME_LEADS = {"nama", "namanya", "namane", "namina", "naminya", "jeneng", "jenenge", "jenengipun", "asmane", "asmanipun", "wastanipun", "name"}
_NAME_FILLERS = {
    "adalah", "yaitu", "yakni", "iku", "niku", "teh", "nya", "dia", "beliau", "pekerja", "pekerjanya", "pmi", "tki", "tkw",
    "lengkap", "lengkapnya", "lengkape", "asli", "aslinya", "itu", "kuwi", "nggih", "ya", "yg", "yang", "kerja",
}


def name_in(lexicon: Lexicon, text: str) -> str:
    """"nama adik saya Siti Maesaroh" -> "Siti Maesaroh"; anything else unchanged."""
    words = text.replace(":", " ").split()
    if not words or for_matching(words[0]) not in _NAME_LEADS:
        return text
    relatives = set().union(*lexicon.relatives.values()) if lexicon.relatives else set()
    index = 1
    while index < len(words):
        word = for_matching(words[index])
        base = _strip_possessive(lexicon, word, frozenset(relatives)) if word not in relatives else word
        if word in _NAME_FILLERS or word in lexicon.possessive_words or word in relatives or base:
            index += 1
            continue
        break
    rest = words[index:]
    while len(rest) > 1 and for_matching(rest[-1]) in _PARTICLES:
        rest = rest[:-1]
    return " ".join(rest).strip(" .,!") or text


def writes_for_self(lexicon: Lexicon, text: str) -> bool:
    tokens = _tokens(text)
    return bool(tokens) and len(tokens) <= 4 and bool(_starts_with(tokens, lexicon.self_words))


# --- durations --------------------------------------------------------------
_DIGITS = re.compile(r"^\d{1,3}$")


def duration_days(lexicon: Lexicon, text: str) -> Optional[int]:
    """"udah 2 mingguan" -> 14, "rong minggu" -> 14, "sebulan" -> 30, "kemarin" -> 1."""
    tokens = _tokens(text)
    for phrase, days in sorted(lexicon.duration_words.items(), key=lambda item: -len(item[0])):
        if _contains(tokens, phrase):
            return days
    for index, token in enumerate(tokens):
        for unit, days in lexicon.duration_units.items():
            # "seminggu", "sebulan", "sabulan", "setahun"
            for prefix in ("se", "sa", "sak"):
                if token == prefix + unit:
                    return days
            if token != unit and not (token.startswith(unit) and len(token) - len(unit) <= 3):
                continue
            count = _number_before(lexicon, tokens, index)
            return days * (count or 1)
    return None


def _number_before(lexicon: Lexicon, tokens: Sequence[str], index: int) -> Optional[int]:
    for back in (1, 2):
        if index - back < 0:
            return None
        word = tokens[index - back]
        if _DIGITS.match(word):
            return int(word)
        if word in lexicon.numbers:
            return lexicon.numbers[word]
        if word not in ("lebih", "kurang", "hampir", "sekitar", "kira", "udah", "sudah", "wis", "ampir"):
            return None
    return None


# --- options by words -------------------------------------------------------
def option_by_words(text: str, options: Sequence[tuple[str, str, Sequence[str]]]) -> Optional[str]:
    """The one option whose label words or listed phrases appear in the message.

    Options are (value, label, phrases). Only an unambiguous fit counts: "telpon
    aja" picks "Telepon", but a message that fits two options is asked again.
    """
    tokens = _tokens(text)
    if not tokens or len(tokens) > 12:
        return None
    # "sumber gede" for "Sumbergede": adjacent words joined count as one word too.
    joined = tokens + [a + b for a, b in zip(tokens, tokens[1:])]
    fitting = set()
    for value, label, phrases in options:
        candidates = [p for p in phrases if len(p) >= 2]
        label_words = [w for w in for_matching(re.sub(r"\(.*?\)", "", label)).split() if len(w) >= 4]
        if any(_contains(tokens, phrase) for phrase in candidates):
            fitting.add(value)
        elif label_words and all(any(_close(word, token) for token in joined) for word in _distinctive(label_words)):
            fitting.add(value)
    return fitting.pop() if len(fitting) == 1 else None


def _distinctive(label_words: list[str]) -> list[str]:
    """The words of a label that tell it apart ("Desa Jlamprang" -> jlamprang)."""
    kept = [w for w in label_words if w not in _GENERIC_LABEL_WORDS]
    return (kept or label_words)[:2]


_GENERIC_LABEL_WORDS = {"desa", "saya", "lewat", "dengan", "untuk", "yang", "atau", "sendiri", "lainnya"}


def _close(expected: str, typed: str) -> bool:
    """Same word, allowing one slip in longer words ("telpon" for "telepon")."""
    if expected == typed:
        return True
    if len(expected) < 5 or abs(len(expected) - len(typed)) > 1:
        return False
    return _edit_distance_at_most_one(expected, typed)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if len(a) < len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            i += 1
            j += 1
            continue
        edits += 1
        if edits > 1:
            return False
        if len(a) == len(b):
            j += 1
        i += 1
    return edits + (len(a) - i) <= 1


# "lewat wa aja" names the channel to be reached on, and "ga bisa dihubungi" tells
# a story: neither asks for a number.
_CHANNEL_WORDS = {"wa", "whatsapp", "no", "cc", "hubungi", "ngubungi", "nelpon"}
_NUMBER_EXTRA = {"nomernya", "nomornya", "nomere", "nomerna", "nomorna", "nmrnya", "ditelpon", "ditelepon", "nelepon", "telepon"}


def wants_number_instead(lexicon: Lexicon, text: str) -> bool:
    """At the consent question: a phone number asked for instead of saying
    yes ("ga mau data sy dicatat, nomer pengaduannya aja brp")."""
    tokens = _tokens(text)
    if not tokens or len(tokens) > 20:
        return False
    number = any(
        _contains(tokens, phrase) for phrase in lexicon.hotline_number_words if phrase not in _CHANNEL_WORDS
    ) or bool(_NUMBER_EXTRA & set(tokens))
    if not number:
        return False
    refuses = any(_contains(tokens, phrase) for phrase in lexicon.no if len(phrase) >= 2) or any(
        _contains(tokens, phrase) for phrase in ("takut", "sieun", "wedi", "ajrih", "mending", "langsung")
    )
    return refuses or looks_like_question(lexicon, text)


_NUMBER_WORDS = {"nomor", "nomer", "nmr", "no", "hotline", "kontak", "nomere", "nomornya", "nomernya", "nomerna", "nomorna"}


def asks_for_help(lexicon: Lexicon, text: str) -> bool:
    """"tlg dicatat ya min", "aku bingung kudu piye", "pengin dilaporna ben ana
    sing ngurusi": the writer asks for something to be done (words.yml `help_requests`)."""
    kept = _without_fillers(lexicon, respelled(lexicon, text))
    return any(_contains(kept, phrase) for phrase in lexicon.help_requests)


def wants_numbers_not_the_form(lexicon: Lexicon, text: str) -> bool:
    """Inside a form, "ga usah disimpen datanya, kasih nomor yg bisa sy telpon
    aja": the person does not want their data kept and asks for a number
    instead (issue 23). Both halves are needed, so a story that mentions a
    phone ("wis tak telpon ora diangkat") is never read so. A listed phrase
    counts as typed, or without its fillers only while two words remain:
    "mending nelpon" without "mending" is "nelpon", which every question about
    calling has ("nomer kp2mi kalo nelpon dr taiwan apa")."""
    tokens = respelled(lexicon, text)
    if not tokens or len(tokens) > 20 or not _NUMBER_WORDS & set(tokens):
        return False
    kept = _without_fillers(lexicon, tokens)
    for written in lexicon.no_data:
        plain = " ".join(w for w in written.split() if w not in lexicon.fillers)
        if _contains(tokens, written) or (len(plain.split()) >= 2 and _contains(kept, plain)):
            return True
    return False


def asks_about_own_report(lexicon: Lexicon, text: str) -> bool:
    """"status ADU-ZZ9Q gimana", "laporan saya sudah sampai mana": a question
    about a report already made, which the status card answers."""
    tokens = _tokens(text)
    return any(_contains(tokens, phrase) for phrase in lexicon.status_words)


def asks_to_report(lexicon: Lexicon, text: str) -> bool:
    """"mau lapor, majikan anak saya ..." asks for a report in so many words,
    near the start, whatever the story that follows sounds like to NLU."""
    tokens = _tokens(text)
    return any(_contains(tokens, phrase) for phrase in lexicon.report_requests)


def opens_with_report_request(lexicon: Lexicon, text: str) -> bool:
    """"bu kula badhe lapor, ... kangge punapa?": the report is asked for
    first; a question that follows is part of the story."""
    tokens = [t for t in _tokens(text) if t not in _PARTICLES][:5]
    return any(_contains(tokens, phrase) for phrase in lexicon.report_requests)


_YEAR = re.compile(r"\b(19[5-9]\d|20[0-3]\d)\b")


def asks_about_danger(lexicon: Lexicon, text: str) -> bool:
    """A question about danger that is not a danger now (issue 23): about
    others or in general ("pmi yg kabur dari majikan jadi ilegal ga?"),
    hypothetical ("lamun aya pmi nu disiksa, saha nu ngabela?"), in the past
    ("baheula abdi kabur ..., ayeuna tiasa angkat deui?", "meninggal 2019"), or a
    death and the papers it needs ("bojoku wis seda, surat status opo sing
    perlu"). A word of the present ("masih", "sekarang", "tadi", "tolong")
    keeps it a danger, unless "sekarang" only asks what is possible now
    ("ayeuna tiasa ..."). The caller still gives the hotline with the answer."""
    tokens = _tokens(text)
    kinds = lexicon.danger_question
    asks = looks_like_question(lexicon, text) or any(token in lexicon.question_words for token in tokens)
    if asks and _safe_now(tokens, kinds):
        return True  # "temen sy kabur, skrg di shelter kbri, pulangnya gmn": asked after it is over
    if not tokens or _speaks_of_now(tokens, kinds.get("now", frozenset()), kinds.get("modal", frozenset()), kinds.get("others_after_now", frozenset())):
        return False
    if just_asking(lexicon, text):
        return True
    if not asks:
        return False
    papers = any(token in kinds.get("death", frozenset()) for token in tokens) and any(
        _contains(tokens, phrase) for phrase in kinds.get("papers", frozenset())
    )
    if papers:
        return True
    hypothetical = any(_contains(tokens, phrase) for phrase in kinds.get("hypothetical", frozenset()))
    if _writer_in_it(lexicon, tokens, kinds.get("first_person", frozenset())):
        # The writer's own danger ("majikan sering mukulin saya, harus gimana?",
        # "katanya majikan mau bunuh saya kalo kabur") is a danger unless the
        # message opens with "what if" ("kalau saya dipukul, lapor ke mana?").
        opening = [t for t in tokens[:4] if t not in lexicon.greetings and t not in lexicon.fillers][:2]
        return any(_contains(opening, phrase) for phrase in kinds.get("hypothetical", frozenset()))
    framed = any(_contains(tokens, phrase) for phrase in kinds.get("general", frozenset()) | kinds.get("past", frozenset()))
    return hypothetical or framed or bool(_YEAR.search(text))


def tells_past_danger(lexicon: Lexicon, text: str, this_year: Optional[int] = None) -> bool:
    """A harm told as over ("kakinya patah di pabrik tahun lalu, klaim asuransinya
    ga diurus"): a report or a question, not the emergency text. Needs a word
    that dates it clearly (words.yml `danger_question.long_ago`, or a year) and
    no word of the present ("masih", "sekarang", "tolong"): "dulu" alone is not
    enough, since "lapor dulu" means "first". A year counts only before
    `this_year` ("dipukul 2026" in 2026 may be going on); without it, never."""
    tokens = _tokens(text)
    kinds = lexicon.danger_question
    if _safe_now(tokens, kinds):
        return True  # "adik kabur dari majikan, sekarang sudah di KBRI": told, and over
    if not tokens or _speaks_of_now(tokens, kinds.get("now", frozenset()), frozenset()):
        return False
    dated = False
    for phrase in kinds.get("long_ago", frozenset()):
        parts = phrase.split()
        for i in range(len(tokens) - len(parts) + 1):
            if tokens[i : i + len(parts)] == parts:
                if i and tokens[i - 1] in _SINCE:
                    return False  # "since last month": still going on
                dated = True
    year = _YEAR.search(for_matching(text))
    if year and re.search(r"\b(" + "|".join(_SINCE) + r")\s+(tahun\s+|thn\s+|taun\s+)?" + year.group(0), for_matching(text)):
        return False
    long_ago = year is not None and this_year is not None and int(year.group(0)) < this_year
    return dated or long_ago


_SINCE = {"since", "sejak", "semenjak", "sjk", "wiwit", "ket", "kawit", "saprak", "mulai", "dari", "dr", "ti", "awit", "kadung"}


_NEGATIONS = {"ga", "gak", "gk", "nggak", "ngga", "enggak", "tidak", "tdk", "ora", "ra", "teu", "henteu", "mboten", "kurang", "not", "belum", "blm"}


def says_all_are_well(lexicon: Lexicon, text: str) -> bool:
    """"putra kula sehat, mung ...", "anjeunna damang mung bingung": the writer
    says the worker is well (words.yml `danger_question.well`), not "teu damang"."""
    tokens = _tokens(text)
    for phrase in lexicon.danger_question.get("well", frozenset()):
        parts = phrase.split()
        for i in range(len(tokens) - len(parts) + 1):
            if tokens[i : i + len(parts)] == parts and not (i and tokens[i - 1] in _NEGATIONS):
                return True
    return False


def _writer_in_it(lexicon: Lexicon, tokens: Sequence[str], first_person: frozenset[str]) -> bool:
    """"saya", "aku" as the writer themself, not as the possessive of a relative ("adik sy")."""
    kin = set().union(*lexicon.relatives.values()) if lexicon.relatives else set()
    return any(
        token in first_person and not (index and (tokens[index - 1] in kin or tokens[index - 1] in lexicon.relative_qualifiers))
        for index, token in enumerate(tokens)
    )


def _speaks_of_now(
    tokens: Sequence[str], now: frozenset[str], modal: frozenset[str], others: frozenset[str] = frozenset()
) -> bool:
    """A word of the present about the person in the message. Not when it only
    asks what is possible now ("ayeuna tiasa angkat deui?": a modal follows) or
    speaks of other people ("kok masih ada yg berangkat": `others` follows)."""
    for index, token in enumerate(tokens):
        if token in now:
            following = tokens[index + 1 : index + 3]
            if any(word in modal for word in following):
                continue
            if any(_starts_with(tokens[index + 1 :], (phrase,)) for phrase in others):
                continue
            return True
    return any(" " in phrase and _contains(tokens, phrase) for phrase in now)


def before_departure(lexicon: Lexicon, text: str) -> bool:
    """"anak sy mau brgkt", "arep budal": the person has not left yet
    (words.yml `danger_question.before_departure`)."""
    tokens = _tokens(text)
    return any(_contains(tokens, phrase) for phrase in lexicon.danger_question.get("before_departure", frozenset()))


def _safe_now(tokens: Sequence[str], kinds: Mapping[str, frozenset[str]]) -> bool:
    """"skrg di shelter", "wis mulih", "sudah aman": the person is safe now, so
    the harm in the message is told, not happening (words.yml `danger_question.safe_now`)."""
    return any(_contains(tokens, phrase) for phrase in kinds.get("safe_now", frozenset()))


def just_asking(lexicon: Lexicon, text: str) -> bool:
    """"mung takon", "nanya aja", "naros wungkul": the writer says the question
    is hypothetical, so a danger word in it is not a present danger."""
    tokens = _tokens(text)
    return any(_contains(tokens, phrase) for phrase in lexicon.just_asking)


def tells_a_problem(lexicon: Lexicon, text: str) -> bool:
    """"gaji adik saya di malaysia belum dibayar": a worker's concrete problem
    (words.yml `problem_phrases`), which makes a statement a report and a
    question an occasion to offer one."""
    tokens = _tokens(text)
    return any(_contains(tokens, phrase) for phrase in lexicon.problem_phrases)


def names_training(lexicon: Lexicon, text: str) -> bool:
    """"daftare pelatihan batik kepriben" is about a training; "anak sma udah
    bisa daftar?" is about migrating, and is answered as a question; so is a
    training for leaving ("biaya pelatihan bahasa jepang siapa yg nanggung"),
    which the village does not run (words.yml `migration_training_words`)."""
    tokens = _tokens(text)
    if any(_contains(tokens, phrase) for phrase in lexicon.migration_training_words):
        return False
    return any(token.startswith(word) for token in tokens for word in lexicon.training_words)


def village_not_listed(lexicon: Lexicon, text: str) -> bool:
    """At the village question, a message that says the village is not among
    the options ("desa saya ga ada", "bukan semua", "desaku ora ono"), or
    names a village ("desa Sukamaju") that matched none of them."""
    tokens = _tokens(text)
    if not tokens or len(tokens) > 14:
        return False
    if any(_contains(tokens, phrase) for phrase in lexicon.not_listed):
        return True
    return tokens[0] in lexicon.village_words and len(tokens) >= 2


def means_this_number(lexicon: Lexicon, text: str) -> bool:
    """At a phone question, "nomor ini aja" / "lewat wa mawon" / "nomer ieu
    wae": the number the person is writing from, not a question to answer."""
    tokens = _without_fillers(lexicon, _tokens(text))
    if not tokens or len(tokens) > 6:
        return False
    return any(_contains(tokens, " ".join(_without_fillers(lexicon, phrase.split()))) for phrase in lexicon.this_number)


# --- danger cues -------------------------------------------------------------
def has_danger_cue(lexicon: Lexicon, text: str) -> bool:
    lowered = for_matching(text)
    tokens = set(lowered.split())
    return any(
        cue in lowered and not (lexicon.danger_cue_unless.get(cue, frozenset()) & tokens)
        for cue in lexicon.danger_cues
    )


def satgas_request(lexicon: Lexicon, text: str) -> Optional[str]:
    """A satgas asking in words: "list", "latest" or "help" (see words.yml satgas_words)."""
    tokens = _tokens(text)
    if not tokens or len(tokens) > 10:
        return None
    words = lexicon.satgas_words

    def has(kind: str) -> bool:
        return any(_contains(tokens, phrase) for phrase in words.get(kind, ()))

    if not has("topic"):
        return None
    if has("help"):
        return "help"
    if has("latest"):
        return "latest"
    if has("list"):
        return "list"
    return None


def small_talk(lexicon: Lexicon, text: str) -> Optional[str]:
    """"makasih ya" -> "thanks", "punten" -> "greeting": the whole message, nothing more."""
    tokens = _tokens(text)
    while len(tokens) > 1 and tokens[-1] in _PARTICLES:
        tokens = tokens[:-1]  # "makasih ya min", "halo kak"
    typed = " ".join(tokens)
    if typed in lexicon.thanks:
        return "thanks"
    if typed in lexicon.greetings:
        return "greeting"
    return None


def thanks_with_yes(lexicon: Lexicon, text: str) -> bool:
    """"iya makasih kak", "nggih matur nuwun": a thanks that opens with a yes,
    not a yes to the offer above it."""
    tokens = _tokens(text)
    if not tokens or tokens[0] not in lexicon.yes:
        return False
    rest = [t for t in tokens[1:] if t not in lexicon.yes and t not in _PARTICLES]
    return bool(rest) and " ".join(rest) in lexicon.thanks


# Words people add around a greeting or a thanks: "makasih ya min", "punten teh".
_PARTICLES = {
    "ya", "yah", "yaa", "min", "admin", "kak", "ka", "pak", "bu", "bapak", "ibu", "mas", "mbak", "mba", "teh", "kang",
    "sis", "gan", "nggih", "deh", "dong", "banget", "banyak", "atuh", "euy", "nya", "lho", "loh", "sekali", "bgt",
    "bos", "om", "mbah", "semua", "sedoyo", "sadayana", "pisan", "nggeh", "njih",
}


def asks_for_hotline(lexicon: Lexicon, text: str) -> bool:
    """"nomor pengaduan bp2mi berapa ya", "call center kbri brp": a phone number is asked for."""
    tokens = _tokens(text)
    if not tokens or len(tokens) > 14:
        return False
    if asks_to_report(lexicon, text) and not looks_like_question(lexicon, text):
        return False  # "sudah telpon ... ga diangkat, mau lapor ...": a report that mentions calling
    asks_number = any(_contains(tokens, phrase) for phrase in lexicon.hotline_number_words)
    about = any(_contains(tokens, phrase) for phrase in lexicon.hotline_about_words)
    # "terus saya harus telpon kemana?": a short question where to call is
    # about the hotline too, even without naming an office (issue 23).
    where = len(tokens) <= 10 and any(_contains(tokens, phrase) for phrase in lexicon.hotline_where_words)
    abroad = _calls_from_abroad(lexicon, tokens) and looks_like_question(lexicon, text)  # not "sudah telpon dari malaysia"
    return asks_number and (about or where or abroad)


def _calls_from_abroad(lexicon: Lexicon, tokens: Sequence[str]) -> bool:
    """"kalau nelpon dari hongkong?", "lha nek nelpon soko arab piye": a place
    abroad right after "from" (within two words) in a question about calling."""
    for index, token in enumerate(tokens):
        if token in lexicon.hotline_from_words:
            after = tokens[index + 1 : index + 4]
            if any(_contains(after, phrase) for phrase in lexicon.hotline_abroad_words):
                return True
    return False


def _without_fillers(lexicon: Lexicon, tokens: Sequence[str]) -> list[str]:
    return [token for token in tokens if token not in lexicon.fillers]


def steering(lexicon: Lexicon, text: str, whole_only: bool = False) -> Optional[str]:
    """What a message that steers the conversation asks for, in everyday words.

    "batal", "menu", "petugas" alone, and the same wrapped in the fillers
    people type around them ("udah ah ga jadi, nanti dulu", "ya udah batal
    aja", "tolong hapus aja data saya ya min"): the fillers of words.yml are
    dropped from the message and from the listed phrases before comparing,
    so a yes-word next to a cancel-word does not make a yes. A short message
    that contains a cancel, delete, person or stop phrase steers too, unless
    it reads as a question ("kalau ga jadi berangkat uangnya balik ga?").
    Deleting beats talking to a person, which beats stopping messages, which
    beats cancelling (issue 23).
    """
    tokens = respelled(lexicon, text)
    kept = _without_fillers(lexicon, tokens) or tokens
    typed = " ".join(kept)
    plain = lexicon.steering_plain
    for kind in STEERING_ORDER:
        if typed in lexicon.steering.get(kind, frozenset()) or typed in plain.get(kind, frozenset()):
            return kind
    if whole_only or not tokens or len(tokens) > STEERING_MAX_WORDS:
        return None
    # A message that OPENS with "ntar dulu ya" steers even when a question to
    # someone else follows ("..., mau tanya suami dulu"); an opening cancel
    # phrase only outside a question ("ga usah bayar kan kalau lewat p3mi?").
    question = looks_like_question(lexicon, text)
    opening = _opening_kind(lexicon, tokens)
    if opening == "later" or (opening is not None and not question):
        return opening
    for kind in CONTAINED_KINDS:
        if question and kind not in ASKED_KINDS:
            continue
        for phrase in plain.get(kind, frozenset()):
            if (len(phrase.split()) >= 2 or phrase in lexicon.steering_alone_ok) and _contains(kept, phrase):
                return kind
    return None


def says_cancel(lexicon: Lexicon, text: str) -> bool:
    """Whether a cancel word is anywhere in the message ("gmn cara batalin pelatihan?")."""
    return _cancel_in(lexicon, respelled(lexicon, text))


def _cancel_in(lexicon: Lexicon, tokens: Sequence[str]) -> bool:
    plain = lexicon.steering_plain.get("cancel", frozenset())
    return any(_contains(tokens, phrase) for phrase in plain if len(phrase.split()) >= 2 or phrase in lexicon.steering_alone_ok)


def _opening_kind(lexicon: Lexicon, tokens: Sequence[str]) -> Optional[str]:
    """"ntar aja deh min, sy tanya suami dulu" (later), "ga jadi, mau tanya agen
    dulu" (cancel): a cancel or later phrase as typed (fillers and all, two
    words or more, or "batal") opening the message, with the reason after it.
    Only fillers and greetings may come before it; a cancel word anywhere in
    the message wins over a later one."""
    cancel_said = _cancel_in(lexicon, tokens)
    for kind in ("cancel", "later"):
        phrases = lexicon.steering_openers.get(kind, ())
        for start in range(len(tokens)):
            if _starts_with(tokens[start:], phrases):
                return "cancel" if cancel_said else kind  # "nanti dulu deh, ga jadi": a cancel
            if tokens[start] not in lexicon.fillers and tokens[start] not in lexicon.greetings:
                break
    return None


# Steering kinds in the order they win when a message holds two of them.
STEERING_ORDER = ("delete_data", "agent", "unsubscribe", "cancel", "later", "back", "resubscribe", "menu", "resume")
# Kinds that steer even inside a longer message (a few words); "menu" and
# "lanjut" only as the whole message: "lanjut kerja di taiwan" is no command.
CONTAINED_KINDS = ("delete_data", "agent", "unsubscribe", "cancel", "later")
# Requests people phrase as questions ("bisa ngomong sama orang aja ga?").
ASKED_KINDS = ("delete_data", "agent")
STEERING_MAX_WORDS = 14
