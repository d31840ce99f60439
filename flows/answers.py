"""Information answers: the entry that answers the question first, the rest on request.

On WhatsApp people read the first two lines, so the first message is one
knowledge entry's answer (≤500 chars, content/knowledge/*.yml), without the
long "Sumber:" paragraph. A short numbered message then offers the full
explanation, the sources and, once per country, the country note. When the
finder is unsure it asks "Maksud Anda" with three titles instead of guessing;
when nothing fits, the topic's short text (answers.yml `short`) is sent.

The last entry or topic is kept in the conversation state, so the follow-ups
work by typing too ("1", "lengkap", "sumbernya apa") and a short follow-up
question ("kalau brunei?", "terus biayanya?") is read in its context.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Optional

from bot.content import SourcedText
from bot.knowledge import INFO_INTENTS, Entry, Match, finder_for, topic_shorts
from bot.messages import Option, option_rows, options_from_rows
from bot.normalise import for_matching
from flows.forms import StepOption, match_choice
from flows import reading, safety
from bot.turn import Turn
from nlu.classifier import Understanding

COUNTRY_AWARE = {"tanya_syarat", "tanya_prosedur", "tanya_biaya", "cek_agen", "tanya_pelindungan"}
KB_INTENTS = set(INFO_INTENTS)

# Conversation state keys.
LAST = "kb_last"  # {"entry": id} or {"intent": intent}
NOTES_OFFERED = "kb_country_offered"  # country keys whose note was already offered
ANSWERED_AT = "kb_answered_at"  # when the last answer went out (follow-ups refer to it for a while)

DETAIL, SOURCE, COUNTRY, PICK, OTHER = "kb:detail", "kb:source", "kb:country:", "kb:pick:", "kb:other"
LINK = "kb:link"  # "webnya apa?": the web addresses the last answer names
# A web address as our answers write them: "siskop2mi.bp2mi.go.id", "https://peduliwni.kemlu.go.id".
WEB_ADDRESS = re.compile(r"(?:https?://)?(?:[a-z0-9-]+\.)+(?:go\.id|co\.id|or\.id|id|com|org|net)(?:/[^\s),;]*)?", re.IGNORECASE)
OTHERS = "kb_others"  # the runners-up of an answer that was not sure ("Bukan ini, yang lain")
OTHER_WORDS = ("lain", "yang lain", "yg lain", "bukan", "bukan ini", "bukan itu", "salah", "bukan itu maksudnya",
               "liyane", "sing liyane", "dudu", "dudu iku", "sanes", "nu sanes", "lainna", "sanes eta", "other")
FOLLOW_UP_MARKERS = (
    "kalau", "kalo", "klo", "klw", "kl", "terus", "trus", "trs", "lalu", "lha", "la", "nek", "yen", "menawi",
    "lamun", "ari", "upami", "bagaimana dengan", "gimana dengan", "gmn dengan", "kumaha", "piye", "trz", "terusnya",
)
MAX_FOLLOW_UP_WORDS = 8


# --- rendering ---------------------------------------------------------------------
def render_sourced(turn: Turn, item: SourcedText) -> str:
    parts = [turn.content.fill(item.text)]
    if not item.verified:
        parts.append(turn.content.text("unverified_mark"))
    parts.append(turn.content.text("source_line", sources="; ".join(item.sources), reviewed=item.reviewed))
    return "\n\n".join(parts)


def _with_mark(turn: Turn, text: str, verified: bool) -> str:
    text = turn.content.fill(text)
    return text if verified else text + "\n\n" + turn.content.text("unverified_mark")


HOTLINES = "hotlines"


def remember_hotlines_shown(turn: Turn) -> None:
    """The complaint numbers were the last answer: "nomer kuwi soko ngendi?"
    gets their sources, like any answer's."""
    turn.remember(LAST, {HOTLINES: True})
    turn.remember(ANSWERED_AT, turn.now.isoformat(timespec="seconds"))


def _sources_text(turn: Turn, sources: tuple[str, ...], reviewed: str) -> str:
    listed = "\n".join(f"- {source}" for source in sources)
    return turn.content.text("kb_sources", sources=listed, reviewed=reviewed)


def _country(turn: Turn) -> Optional[str]:
    return turn.country_in_message() or (turn.state or {}).get("negara")


def _offer(
    turn: Turn, has_detail: bool, intent: str, country: Optional[str], others: bool = False, report: bool = False
) -> None:
    """The short numbered message after an answer; the country note only once per country;
    "Bukan ini" when the finder was not sure; the report when the question told of a problem."""
    options = []
    if has_detail:
        options.append(Option(DETAIL, turn.content.text("kb_detail_option")))
    options.append(Option(SOURCE, turn.content.text("kb_source_option")))
    options.extend(_country_option(turn, intent, country))
    if others:
        options.append(Option(OTHER, turn.content.text("kb_other_option")))
    if report:
        options.append(Option(REPORT, turn.content.text("report_offer_option")))
        turn.record("report_offered")
    turn.conversation.options = option_rows(options)
    more = turn.content.text("kb_more")
    turn.say(turn.content.text("report_offer") + "\n" + more if report else more, options)


def _country_option(turn: Turn, intent: Optional[str], country: Optional[str]) -> list[Option]:
    """The country note as an option, once per country per conversation."""
    offered = list((turn.state or {}).get(NOTES_OFFERED) or [])
    found = turn.content.countries.get(country or "")
    if not found or not found.note or intent not in COUNTRY_AWARE or found.key in offered:
        return []
    turn.remember(NOTES_OFFERED, [*offered, found.key])
    return [Option(COUNTRY + found.key, turn.content.text("kb_country_option", country=found.name))]


def send_entry(
    turn: Turn, entry: Entry, country: Optional[str], how: str = "clear", match: Optional[Match] = None,
    report: bool = False,
) -> None:
    """One entry's answer, then the numbered offer. `match` (not sure) keeps
    the runners-up for "Bukan ini, yang lain"."""
    turn.say(_with_mark(turn, entry.answer, entry.verified))
    turn.remember(LAST, {"entry": entry.id, "intent": entry.intent})
    turn.remember(ANSWERED_AT, turn.now.isoformat(timespec="seconds"))
    others = [c.entry.id for c in (match.candidates if match is not None and not match.sure else ()) if c.entry.id != entry.id]
    turn.remember(OTHERS, others)
    turn.record("answered", intent=entry.intent, entry=entry.id, how=how)
    _offer(turn, bool(entry.detail), entry.intent, country, others=bool(others), report=report)


def send_topic(turn: Turn, intent: str, country: Optional[str]) -> None:
    """No entry fits: the topic's short text, the long one on request."""
    item = turn.content.answers[intent]
    short = topic_shorts(turn.content).get(intent)
    turn.say(_with_mark(turn, short or item.text, item.verified))
    turn.remember(LAST, {"intent": intent})
    turn.record("answered", intent=intent, how="topic")
    _offer(turn, bool(short), intent, country)


def ask_which(turn: Turn, match: Match, intent: Optional[str], report: bool = False) -> None:
    options = [Option(PICK + c.entry.id, c.entry.title) for c in match.candidates]
    options.extend(_country_option(turn, intent, _country(turn)))
    if report:
        options.append(Option(REPORT, turn.content.text("report_offer_option")))
        turn.record("report_offered")
    turn.conversation.options = option_rows(options)
    if intent:
        turn.remember(LAST, {"intent": intent})
    turn.record("kb_did_you_mean", intent=intent, entries=[c.entry.id for c in match.candidates])
    which = turn.content.text("kb_did_you_mean")
    turn.say(turn.content.text("report_offer") + "\n" + which if report else which, options)


# --- the intent handler ------------------------------------------------------------
def answer(turn: Turn, intent: str, understanding: Optional[Understanding] = None) -> None:
    """Answer-first. Without understanding (a menu choice) there is no question to
    search for, so the topic's short answer is sent."""
    country = _country(turn)
    if intent not in KB_INTENTS:
        # Topics without knowledge entries (program_desa): the text as before.
        turn.say(render_sourced(turn, turn.content.answers[intent]))
        turn.record("answered", intent=intent, how="topic")
        turn.say(turn.content.text("answer_footer"))
        return
    if understanding is None:
        return send_topic(turn, intent, country)
    match = finder_for(turn.content).find(turn.text, intent, country)
    report = tells_of_a_problem(understanding) or reading.tells_a_problem(reading.load_lexicon(turn.content.directory), turn.text)
    vague = len(turn.text.split()) <= VAGUE_WORDS and not match.sure  # "paspor gimana": about what?
    if match.clear and match.best is not None and not vague:
        return send_entry(turn, match.best, country, match=match, report=report)
    if match.best is not None and not vague and not _close_call(match, finder_for(turn.content).settings.tie_margin):
        # Weak but not torn between two entries: the best answer, with the
        # runners-up one tap away ("Maksud Anda" only for a close call, issue 23).
        return send_entry(turn, match.best, country, how="unsure", match=match, report=report)
    if match.best is not None and len(match.candidates) > 1:
        return ask_which(turn, match, intent, report=report)
    send_topic(turn, intent, country)


VAGUE_WORDS = 2
REPORT_RUNNER_UP = 0.10


def tells_of_a_problem(understanding: Optional[Understanding]) -> bool:
    """A question that NLU also reads as a report ("gaji adik sy 2 bulan ga
    dibayar, haknya gimana?"): the answer offers the report in one line."""
    if understanding is None:
        return False
    return any(intent in ("lapor_masalah", "darurat") and score >= REPORT_RUNNER_UP for intent, score in understanding.ranking[:3])


def _close_call(match: Match, margin: float) -> bool:
    """Two entries genuinely close: the person chooses ("Maksud Anda")."""
    scores = [c.score for c in match.candidates]
    return len(scores) > 1 and scores[0] - scores[1] < margin


def answer_if_known(turn: Turn) -> bool:
    """When NLU is unsure, a question the knowledge base clearly knows is still
    answered ("kerja di kamboja jadi admin online gaji 15 juta aman gak?")
    instead of "belum paham"."""
    lexicon = reading.load_lexicon(turn.content.directory)
    question = reading.looks_like_question(lexicon, turn.text)
    if len(turn.text.split()) < (MIN_WORDS_IN_A_QUESTION if question else MIN_WORDS_WITHOUT_INTENT):
        return False
    country = _country(turn)
    match = finder_for(turn.content).find(turn.text, None, country)
    # Without an intent, a sure match; or a clear one when the words ask a
    # question ("p4mi teh naon"): "zzkw qqxv blorp" never gets an answer.
    # With NLU down the words were not read at all: only a sure match (as before issue 23's second round).
    if match.best is None or not (match.sure or (question and match.clear and not turn.nlu_down)):
        return False
    report = reading.tells_a_problem(lexicon, turn.text)
    send_entry(turn, match.best, country, how="without_intent", match=match, report=report)
    return True


MIN_WORDS_WITHOUT_INTENT = 4
MIN_WORDS_IN_A_QUESTION = 3
REPORT = "lapor_masalah"
REPORT_WORDS = ("lapor", "laporkan", "mau lapor", "lapor aja", "ya lapor", "iya lapor", "lapor satgas", "lapor ke satgas", "lapor dong")


def answer_question(turn: Turn, intent: Optional[str], offer_report: bool) -> bool:
    """A question answered from the knowledge base whatever intent NLU saw
    in it (issue 23: "pas pulang cuti harus lapor ke disnaker ga?" is a
    question, not a report). When the question also tells of a problem, the
    answer offers the report in one line instead of opening its form. False
    when no entry fits well enough: the caller decides."""
    country = _country(turn)
    match = finder_for(turn.content).find(turn.text, intent if intent in KB_INTENTS else None, country)
    if match.best is None:
        return False
    # Not clear: still the best entry (a question deserves an answer), with
    # the runners-up one tap away ("Bukan ini, yang lain").
    send_entry(turn, match.best, country, how="question" if match.clear else "question_unsure", match=match, report=offer_report)
    return True


def can_answer(turn: Turn, intent: str) -> bool:
    return intent in turn.content.answers


SHORT_IN_FORM = 300


def short_answer(turn: Turn, text: str, intent: Optional[str]) -> bool:
    """A question in the middle of a form: the entry's answer cut to its first
    sentences (≤300 characters, issue 23), no options (the form's question
    comes next). The best entry even when not clear (a short answer beats
    "I cannot answer that now"); False when nothing fits or two entries tie."""
    finder = finder_for(turn.content)
    match = finder.find(text, intent if intent in KB_INTENTS else None, _country(turn))
    if match.best is None or (not match.clear and _close_call(match, finder.settings.tie_margin)):
        return False  # nothing fits, or two entries tie: the form goes on and the question waits
    turn.say(_with_mark(turn, _first_sentences(turn.content.fill(match.best.answer), SHORT_IN_FORM), match.best.verified))
    turn.record("answered", intent=match.best.intent, entry=match.best.id, how="in_form")
    return True


# --- follow-ups ------------------------------------------------------------------------
def knowledge_followup(turn: Turn) -> bool:
    """Numbers or words for the options after an answer, and short follow-up
    questions in the context of the last answer. Registered in `bot.app`."""
    last = (turn.state or {}).get(LAST)
    shown = turn.conversation.options or []
    ours = [o for o in options_from_rows(shown) if o.value.startswith("kb:") or o.value == REPORT]
    if ours and len(ours) == len(shown):
        chosen = match_choice(turn, [StepOption(o.value, o.label, _synonyms(turn, o.value)) for o in ours])
        if chosen == REPORT:
            return False  # the dialogue starts the report form
        if chosen is not None:
            turn.record("option_chosen", value=chosen)
            return _do(turn, chosen, last)
    if not last or not _recent(turn):
        return False
    typed = for_matching(turn.text)
    asked = followup_asked(reading.load_lexicon(turn.content.directory), turn.text)
    if asked is not None:
        return _do(turn, asked, last)
    return _follow_up_question(turn, typed, last)


FOLLOW_UP_FOR = timedelta(hours=2)


def _recent(turn: Turn) -> bool:
    """Follow-ups in words refer to the last answer for a while (at least 30
    minutes, issue 23); a "sumbernya?" a day later starts afresh."""
    answered_at = turn.remembered_time(ANSWERED_AT)
    return answered_at is None or turn.now - answered_at <= FOLLOW_UP_FOR


def followup_asked(lexicon: reading.Lexicon, text: str) -> Optional[str]:
    """"sumbernya?", "lengkapnya dong min", "dari mana infonya", "sing luwih
    jangkep": DETAIL or SOURCE for the last answer, in everyday words with
    fillers (content/words.yml `followups`), or None. A short message only:
    a longer one is a new question."""
    tokens = reading.respelled(lexicon, text)
    if not tokens or len(tokens) > FOLLOW_UP_MAX_WORDS:
        return None
    kept = [t for t in tokens if t not in lexicon.fillers] or tokens
    typed = f" {' '.join(kept)} "
    for value, kind in ((LINK, "link"), (SOURCE, "source"), (DETAIL, "detail")):
        words = reading.followup_phrases(lexicon, kind)
        if typed.strip() in words:
            return value
        # "dari mana infonya min? takut hoax", "menika sumberipun saking pundi":
        # a phrase of two words or more inside (up to 16 words: "itu aturannya dr
        # mana ya min, biar sy bisa tunjukin ke sponsor"), or a long enough single
        # word inside a short message.
        if any(f" {w} " in typed for w in words if " " in w and w not in FOLLOW_UP_MARKERS):
            return value
        if len(kept) <= 6 and any(f" {w} " in typed for w in words if len(w) >= 6 and w not in FOLLOW_UP_MARKERS):
            return value
    return None


FOLLOW_UP_MAX_WORDS = 16
OPENING_CHARS = 450


def _first_sentences(text: str, limit: int) -> str:
    """The first sentences or lines of an answer that fit in `limit` characters."""
    if len(text) <= limit:
        return text
    pieces = re.split(r"(?<=[.!?])\s+|\n", text)
    kept = ""
    for piece in pieces:
        candidate = (kept + " " + piece).strip() if kept else piece.strip()
        if len(candidate) > limit:
            break
        kept = candidate
    return kept or text[:limit].rsplit(" ", 1)[0] + " ..."


def _opening(text: str) -> str:
    """The first lines of a long text, cut at a line end, at most OPENING_CHARS."""
    kept: list[str] = []
    for line in text.splitlines():
        if kept and len("\n".join([*kept, line])) > OPENING_CHARS:
            break
        if not line.strip() and kept:
            break
        kept.append(line)
    opening = "\n".join(kept).strip()
    return opening if len(opening) <= OPENING_CHARS else opening[:OPENING_CHARS].rsplit(" ", 1)[0] + " ..."


def _synonyms(turn: Turn, value: str) -> tuple[str, ...]:
    if value == OTHER:
        return OTHER_WORDS
    if value == REPORT:
        return REPORT_WORDS
    kind = {DETAIL: "detail", SOURCE: "source"}.get(value)
    return tuple(reading.load_lexicon(turn.content.directory).followups.get(kind, ())) if kind else ()


def _last_entry(turn: Turn, last: Optional[dict]) -> Optional[Entry]:
    entry_id = (last or {}).get("entry")
    return finder_for(turn.content).by_id.get(entry_id) if entry_id else None


def _do(turn: Turn, chosen: str, last: Optional[dict]) -> bool:
    content = turn.content
    if chosen == OTHER:
        finder = finder_for(content)
        others = [finder.by_id[i] for i in (turn.state or {}).get(OTHERS) or [] if i in finder.by_id]
        if not others:
            return False
        options = [Option(PICK + entry.id, entry.title) for entry in others]
        turn.conversation.options = option_rows(options)
        turn.record("kb_others_shown", entries=[entry.id for entry in others])
        turn.say(content.text("kb_others_intro"), options)
        return True
    if chosen.startswith(PICK):
        entry = finder_for(content).by_id.get(chosen[len(PICK):])
        if entry is None:
            return False
        send_entry(turn, entry, _country(turn), how="picked")
        return True
    if chosen.startswith(COUNTRY):
        country = content.countries.get(chosen[len(COUNTRY):])
        if country is None or country.note is None:
            return False
        turn.say(content.text("country_note_intro", country=country.name) + "\n" + render_sourced(turn, country.note))
        turn.record("country_note_shown", country=country.key)
        return True
    entry = _last_entry(turn, last)
    intent = (last or {}).get("intent")
    if chosen == LINK:
        # The address the answer told them to open; an answer that names none
        # has its sources, which carry the addresses it was written from.
        text = (entry.answer + "\n" + entry.detail) if entry is not None else ""
        links = list(dict.fromkeys(m.group(0).rstrip(".") for m in WEB_ADDRESS.finditer(text)))
        if not links:
            chosen = SOURCE
        else:
            turn.say(content.text("kb_links", links="\n".join(f"- {link}" for link in links)))
            turn.record("answered", intent=intent, entry=entry.id if entry else None, how="link")
            return True
    if chosen == DETAIL:
        if entry is not None and entry.detail:
            turn.say(_with_mark(turn, entry.detail, entry.verified))
        elif entry is None and intent in content.answers:
            item = content.answers[intent]
            turn.say(_with_mark(turn, item.text, item.verified))
        elif entry is not None and finder_for(content).related(entry):
            # No longer text: what else to know on the topic, one tap away, not a dead end.
            related = finder_for(content).related(entry)[:3]
            options = [Option(PICK + other.id, other.title) for other in related]
            turn.conversation.options = option_rows(options)
            turn.say(content.text("kb_no_detail_related"), options)
        else:
            turn.say(content.text("kb_no_detail"))
        turn.record("kb_detail_shown", entry=entry.id if entry else None, intent=intent)
        return True
    if chosen == SOURCE:
        if (last or {}).get(HOTLINES):
            hotlines = turn.content.hotlines.values()
            listed = "\n".join(f"- {h.label}: {'; '.join(h.sources)}" for h in hotlines if h.sources)
            reviewed = max((h.reviewed for h in hotlines), default="")
            turn.say(content.text("kb_sources", sources=listed, reviewed=reviewed))
            turn.record("kb_source_shown", entry=None, intent=HOTLINES)
            return True
        if entry is not None:
            turn.say(_sources_text(turn, entry.sources, entry.reviewed))
        elif intent in content.answers:
            item = content.answers[intent]
            turn.say(_sources_text(turn, item.sources, item.reviewed))
        else:
            return False
        turn.record("kb_source_shown", entry=entry.id if entry else None, intent=intent)
        return True
    return False


def _answered_from_last(turn: Turn, entry: Entry, words: list[str]) -> bool:
    """"neng pirang provinsi" after an answer that says "... 70 desa di 16
    provinsi", "pilarna naon wae" after one whose related entry is "Sepuluh
    pilar layanan": a short follow-up whose own word names a related entry's
    title, or appears in one sentence of the last answer, gets that entry or
    that sentence (issue 23: follow-ups in the context of the last answer)."""
    lexicon = reading.load_lexicon(turn.content.directory)
    markers = {w for m in FOLLOW_UP_MARKERS for w in m.split()}
    asked = {
        _stem(w)
        for w in words
        if len(w) >= 4 and w not in lexicon.question_words and w not in lexicon.fillers and w not in markers and w not in _COMMON_WORDS
    }
    asked -= {_stem(w) for w in for_matching(entry.title).split()}
    if not asked:
        return False
    finder = finder_for(turn.content)
    for related in finder.related(entry):
        if asked & {_stem(w) for w in for_matching(related.title).split()}:
            send_entry(turn, related, _country(turn), how="follow_up_related")
            return True
    text = turn.content.fill(entry.answer + ("\n" + entry.detail if entry.detail else ""))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]
    fitting = [s for s in sentences if asked & {_stem(w) for w in for_matching(s).split()}]
    if not fitting:
        return False
    turn.say(_with_mark(turn, " ".join(fitting[:2]), entry.verified))
    turn.record("answered", intent=entry.intent, entry=entry.id, how="from_last_answer")
    return True


_SUFFIXES = ("nya", "ipun", "na", "ne", "ku", "e")
# Words of four letters or more that any sentence may hold: never what a follow-up asks about.
_COMMON_WORDS = {
    "kalau", "yang", "dengan", "untuk", "dari", "saja", "juga", "sama", "bisa", "harus", "tidak", "sudah", "akan",
    "atau", "terus", "lagi", "trus", "dong", "kuwi", "kudu", "mana", "nang", "neng", "ning", "sing", "wonten", "ingkang",
    "menika", "punika", "saged", "kedah", "tiasa", "mawon", "bade", "badhe", "arep", "pengen", "ingin", "perlu",
    "boleh", "oleh", "entuk", "masih", "isih", "kalih", "karo", "sareng", "jeung", "ieu", "eta", "niku", "iki", "iku",
    "berapa", "pinten", "sabaraha", "pmi", "tkw", "tki", "orang", "wong", "jalma", "itu", "ini",
}


def _stem(word: str) -> str:
    """"pilarna", "provinsine", "syaratnya" -> the word people mean."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _follow_up_question(turn: Turn, typed: str, last: dict) -> bool:
    """"kalau brunei?", "terus biayanya?": short, starting with a follow-up word
    (or only a country name), read with the last entry's topic and country."""
    words = typed.split()
    if not words or len(words) > MAX_FOLLOW_UP_WORDS:
        return False
    if reading.asks_for_hotline(reading.load_lexicon(turn.content.directory), turn.text):
        return False  # "terus kalo nelpon dari qatar gimana": the dialogue gives the numbers
    named = turn.content.country_from_text(turn.text)
    padded = f" {typed} "
    starts = any(padded.startswith(f" {marker} ") for marker in FOLLOW_UP_MARKERS)
    only_country = named is not None and len(words) <= 2
    # "alamat websitenya apa", "ti iraha kitu dilarangna": a short question right
    # after an answer is read with that answer's topic when it is unclear alone.
    asks = not (starts or only_country) and reading.looks_like_question(reading.load_lexicon(turn.content.directory), turn.text)
    if not (starts or only_country or asks):
        return False
    markers = {w for m in FOLLOW_UP_MARKERS for w in m.split()} | {"gimana", "gmn", "bagaimana", "dong", "nya"}
    only_place = named is not None and len([w for w in words if w not in markers]) <= 2
    understanding = turn.understand()
    if safety.nlu_says_danger(turn):
        return False  # the dialogue shows the emergency guidance
    if not only_place and understanding.confidence >= turn.nlu_threshold and understanding.intent not in KB_INTENTS | {"di_luar_topik"}:
        return False  # "kalau mau lapor gimana" starts a form, not a follow-up answer
    if named:
        turn.remember("negara", named)
    country = named or (turn.state or {}).get("negara")
    finder = finder_for(turn.content)
    intent = last.get("intent")
    entry = _last_entry(turn, last)
    match = finder.find(turn.text, intent, country)
    if not (match.clear and match.best is not None) and entry is not None:
        match = finder.find(f"{turn.text} {entry.title}", intent, country)
    if match.clear and match.best is not None and (named is None or not match.best.countries or named in match.best.countries):
        send_entry(turn, match.best, country, how="follow_up")
        return True
    if entry is not None and _answered_from_last(turn, entry, words):
        return True
    if asks:
        return False  # unclear even with the last topic: the dialogue asks NLU as for any question
    if named and named in turn.content.countries and turn.content.countries[named].note is not None:
        note = turn.content.countries[named]
        # The note's opening only: a whole country note is topic-length (issue 16).
        turn.say(turn.content.text("country_note_intro", country=note.name) + "\n" + _opening(turn.content.fill(note.note.text)))
        offered = list((turn.state or {}).get(NOTES_OFFERED) or [])
        if named not in offered:
            turn.remember(NOTES_OFFERED, [*offered, named])
        options = [Option(COUNTRY + named, turn.content.text("kb_country_full_option", country=note.name))]
        turn.conversation.options = [{"value": o.value, "label": o.label} for o in options]
        turn.say(turn.content.text("kb_more"), options)
        turn.record("country_note_shown", country=named, how="follow_up")
        return True
    if re.search(r"\w", typed) and match.best is not None and len(match.candidates) > 1:
        ask_which(turn, match, intent)
        return True
    return False
