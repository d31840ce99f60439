"""Satgas commands, typed (WhatsApp, console) or tapped (Telegram buttons).

Only a registered, active satgas member acting on a case of their own village
gets through, from a private chat or their village's own Telegram group;
every action and every refusal is written to the audit trail. The reporter's
chat address is never shown: satgas reach them through `balas`. A case of
another village is answered exactly like a code that does not exist, so codes
cannot be probed. A command that names a case is linked to it (the inbound row
and the replies), so deleting the case's data finds what quotes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from sqlalchemy import select

from bot.domain import accounts, casework, cases
from bot.messages import options_from_rows
from bot.normalise import for_matching
from bot.storage.complaint_models import OPEN_STATUSES, Case
from bot.storage.models import OutboundMessage, SatgasMember, Village
from bot.storage.training_models import Training
from bot.domain.catalog_file import catalog_for
from bot.domain.trainings import registrants_report
from bot.domain.villages import satgas_identity
from flows.feature import Feature
from bot.turn import Turn

COMMAND = re.compile(
    r"^/?(?P<verb>kasus|lihat|ambil|catat|balas|selesai|rujuk|lepas|bantuan|peserta|masuk)\b\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
CODE = re.compile(r"^(?P<code>[Aa][Dd][Uu]-[A-Za-z2-9]{4})\b\s*(?P<text>.*)$", re.DOTALL)
# An option number typed by a satgas: ASCII digits only ("²" and other Unicode
# digits pass str.isdigit but not int()).
OPTION_NUMBER = re.compile(r"[0-9]{1,2}")


@dataclass
class Command:
    verb: str
    code: str
    text: str


def parse(text: str) -> Optional[Command]:
    match = COMMAND.match(text.strip())
    if not match:
        return None
    verb, rest = match.group("verb").lower(), match.group("rest").strip()
    code_match = CODE.match(rest)
    if code_match:
        return Command(verb, code_match.group("code").upper(), code_match.group("text").strip())
    return Command(verb, "", rest)


BARE_VERBS = ("kasus", "bantuan", "masuk")
TRAINING_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


def is_group_command(text: str) -> bool:
    """What the bot takes from a Telegram group: a satgas command in its exact
    form (a verb with a case code, `kasus`/`bantuan` alone, `peserta ID`),
    with or without a leading slash. Talk that merely starts with one of the
    words ("bantuan dong ...", "lihat ini pak") is neither stored nor answered."""
    command = parse(text)
    if command is None:
        return False
    if command.code:
        return True
    if command.verb in BARE_VERBS:
        return not command.text
    return command.verb == "peserta" and bool(TRAINING_ID.match(command.text))


def handle_satgas_message(turn: Turn) -> bool:
    """Entry point from the dialogue: True if the message was a satgas command.

    In a group (Telegram `Inbound.chat`) nothing but a satgas command from a
    member of that group's village is ever answered: a group is not where a
    family's conversation (or the emergency text) belongs."""
    in_group = bool(turn.inbound.chat)
    text = _expand_number(turn) or turn.inbound.payload or turn.text
    command = parse(text)
    if not in_group and (command is None or (not command.code and command.verb not in (*BARE_VERBS, "peserta"))):
        # "ada kasus baru?", "lihat laporan yang barusan": a satgas asking in words.
        command = _command_in_words(turn) or command
    if command is None:
        return in_group  # swallowed in a group, the dialogue's otherwise
    _link_case(turn, command)
    member = satgas_identity(turn.session, turn.inbound.channel, turn.inbound.sender)
    if member is None:
        if in_group or (command.code and command.verb != "lihat"):
            # A case command from someone who is not satgas: refuse and log.
            # ("lihat ADU-..." from a reporter is a status question: let it through.)
            turn.record("satgas_refused", verb=command.verb, case=command.code or None, reason="bukan_satgas")
            turn.say(turn.content.text("satgas_refused"))
            return True
        return False
    if in_group and not _own_group(turn, member):
        turn.record("satgas_refused", actor=cases.actor(member), verb=command.verb, case=command.code or None, reason="grup_lain")
        turn.say(turn.content.text("satgas_wrong_chat"))
        return True
    turn.record("satgas_command", actor=cases.actor(member), verb=command.verb, case=command.code or None)
    ACTIONS.get(command.verb, _help)(turn, member, command)
    return True


def _command_in_words(turn: Turn) -> Optional[Command]:
    """"ada kasus baru?", "lihat laporan yang barusan": a satgas asking in words
    gets the satgas command, never the citizen menu (only for satgas members)."""
    from flows import reading

    lexicon = reading.load_lexicon(turn.content.directory)
    request = reading.satgas_request(lexicon, turn.text)
    if request is None and reading.small_talk(lexicon, turn.text) == "greeting":
        request = "help"  # a satgas saying "pagi" gets their commands, not the citizen menu
    if request is None:
        return None
    member = satgas_identity(turn.session, turn.inbound.channel, turn.inbound.sender)
    if member is None:
        return None
    if request == "help":
        return Command("bantuan", "", "")
    if request == "list":
        return Command("kasus", "", "")
    latest = turn.session.execute(
        select(Case.code)
        .join(OutboundMessage, OutboundMessage.subject_case_id == Case.id)
        .where(OutboundMessage.address == turn.inbound.sender, Case.village_code == member.village_code)
        .order_by(OutboundMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return Command("lihat", latest, "") if latest else Command("kasus", "", "")


def _link_case(turn: Turn, command: Command) -> None:
    """The message quotes this case (whoever sent it, whatever the answer)."""
    if command.code:
        turn.subject_case_id = turn.session.execute(select(Case.id).where(Case.code == command.code)).scalar_one_or_none()


def _own_group(turn: Turn, member: SatgasMember) -> bool:
    """Case cards and trainee lists go only to a private chat or the village's
    own satgas group, never to whatever group a member types in."""
    village = turn.session.get(Village, member.village_code)
    return (
        village is not None
        and turn.inbound.channel == "telegram"
        and bool(village.telegram_group)
        and turn.inbound.chat == village.telegram_group
    )


def _expand_number(turn: Turn) -> Optional[str]:
    """A satgas typing "1" means option 1 of the last alert we sent them."""
    typed = for_matching(turn.text)
    if not OPTION_NUMBER.fullmatch(typed):
        return None
    if satgas_identity(turn.session, turn.inbound.channel, turn.inbound.sender) is None:
        return None
    last = turn.session.execute(
        select(OutboundMessage.options)
        .where(
            OutboundMessage.channel == turn.inbound.channel,
            OutboundMessage.address == turn.inbound.reply_address,  # the group, when typed in one
            OutboundMessage.contact_id.is_(None),
        )
        .order_by(OutboundMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if not last:
        return None
    index = int(typed)
    return options_from_rows(last)[index - 1].value if 1 <= index <= len(last) else None


# --- actions -----------------------------------------------------------------------
# The case actions themselves live in bot.domain.casework, shared with the web
# console; here they are only read from a command and answered in chat.
def desk_of(turn: Turn) -> casework.Desk:
    return casework.Desk(
        session=turn.session,
        content=turn.content,
        now=turn.now,
        notify=turn.notifications.append,
        audit=turn.record,
    )


def _case_for(turn: Turn, member: SatgasMember, command: Command, lock: bool = True) -> Optional[Case]:
    if not command.code:
        turn.say(turn.content.text("satgas_need_text", example=f"{command.verb} ADU-7K3P"))
        return None
    case, refusal = casework.find(desk_of(turn), member, command.code, command.verb, lock=lock)
    if refusal is not None:
        turn.say(refusal.text)
    return case


def _answer(turn: Turn, result: casework.Result) -> None:
    turn.say(result.text)


def _list(turn: Turn, member: SatgasMember, _command: Command) -> None:
    village = turn.session.get(Village, member.village_code)
    open_cases = list(
        turn.session.execute(
            select(Case)
            .where(Case.village_code == member.village_code, Case.status.in_(OPEN_STATUSES))
            .order_by(Case.urgent.desc(), Case.created_at)
        ).scalars()
    )
    if not open_cases:
        turn.say(turn.content.text("satgas_list_empty", village=village.name))
        return
    settings = cases.settings_for(turn.content.directory)
    lines = [turn.content.text("satgas_list_intro", village=village.name)]
    for case in open_cases[:20]:
        flag = "🚨 " if case.urgent else ""
        lines.append(
            f"- {flag}*{case.code}* {settings.categories.get(case.category, case.category)}, "
            f"{settings.statuses.get(case.status, case.status)} ({cases.local_time(settings, case.created_at, with_year=False)})"
        )
    turn.say("\n".join(lines))


def _show(turn: Turn, member: SatgasMember, command: Command) -> None:
    case = _case_for(turn, member, command, lock=False)
    if case is None:
        return
    settings = cases.settings_for(turn.content.directory)
    history = "\n".join(
        f"{cases.local_time(settings, event.created_at, with_year=False)} {event.kind} ({event.actor})"
        + (f": {event.note}" if event.note else "")
        for event in cases.history(turn.session, case)
    )
    turn.say(
        turn.content.text(
            "satgas_case_detail",
            code=case.code,
            status=settings.statuses.get(case.status, case.status),
            urgent=" 🚨" if case.urgent else "",
            village=turn.session.get(Village, case.village_code).name,
            category=settings.categories.get(case.category, case.category),
            country=turn.content.countries[case.country].name if case.country in turn.content.countries else (case.country or "-"),
            worker=case.worker_name or "-",
            employer=case.employer or "-",
            relation=settings.relations.get(case.reporter_relation, case.reporter_relation),
            contact=case.contact_phone or turn.content.text("contact_via_chat"),
            assignee=casework.assignee_name(desk_of(turn), case),
            story=case.description or "-",
            history=history,
        )
    )


def _claim(turn: Turn, member: SatgasMember, command: Command) -> None:
    case = _case_for(turn, member, command, lock=False)
    if case is not None:
        _answer(turn, casework.claim(desk_of(turn), member, case))


def _note(turn: Turn, member: SatgasMember, command: Command) -> None:
    if not command.text:
        turn.say(turn.content.text("satgas_need_text", example=f"catat {command.code or 'ADU-7K3P'} sudah telepon keluarga"))
        return
    case = _case_for(turn, member, command)
    if case is not None:
        _answer(turn, casework.note(desk_of(turn), cases.actor(member), case, command.text))


def _reply(turn: Turn, member: SatgasMember, command: Command) -> None:
    if not command.text:
        turn.say(turn.content.text("satgas_need_text", example=f"balas {command.code or 'ADU-7K3P'} isi pesan"))
        return
    case = _case_for(turn, member, command)
    if case is not None:
        _answer(turn, casework.reply(desk_of(turn), member, case, command.text))


def _resolve(turn: Turn, member: SatgasMember, command: Command) -> None:
    if not command.text:
        turn.say(turn.content.text("satgas_need_text", example=f"selesai {command.code or 'ADU-7K3P'} gaji sudah dibayar"))
        return
    case = _case_for(turn, member, command)
    if case is not None:
        _answer(turn, casework.resolve(desk_of(turn), member, case, command.text))


def _refer(turn: Turn, member: SatgasMember, command: Command) -> None:
    target, _, outcome = command.text.partition(" ")
    unknown_target = casework.referral_refusal(desk_of(turn), target)
    if unknown_target is not None:
        _answer(turn, unknown_target)
        return
    case = _case_for(turn, member, command)
    if case is not None:
        _answer(turn, casework.refer(desk_of(turn), member, case, target, outcome.strip()))


def _unclaim(turn: Turn, member: SatgasMember, command: Command) -> None:
    case = _case_for(turn, member, command)
    if case is not None:
        _answer(turn, casework.release(desk_of(turn), member, case))


def _participants(turn: Turn, member: SatgasMember, command: Command) -> None:
    """Participants of a training open to the member's village, and only those
    from that village; any other training reads as unknown."""
    catalog = catalog_for(turn.content.directory)
    training_id = command.text.strip()
    training = turn.session.get(Training, training_id) if training_id else None
    if training is None or not training.open_to(member.village_code):
        if training is not None:
            turn.record("satgas_refused", actor=cases.actor(member), verb=command.verb, training=training_id, reason="desa_lain")
        turn.say(catalog.text("report_unknown", id=training_id))
        return
    turn.subject_training_id = training.id
    turn.say(registrants_report(turn.session, training.id, catalog=catalog, village=member.village_code))


def _login_link(turn: Turn, member: SatgasMember, command: Command) -> None:
    """*masuk*: a one-time link to the web console, only in a private chat and
    only for a member with an account linked to this chat identity."""
    if command.text:
        return _help(turn, member, command)
    if turn.inbound.chat:
        turn.say(turn.content.text("satgas_login_private"))
        return
    account = accounts.account_for_chat(turn.session, turn.inbound.channel, turn.inbound.sender)
    if account is None:
        turn.say(turn.content.text("satgas_login_no_account"))
        return
    token = accounts.issue_link(turn.session, account, turn.now)
    turn.record("web_login_link", actor=cases.actor(member))
    turn.say(turn.content.text("satgas_login_link", link=f"{turn.web_url.rstrip('/')}/kelola/tautan/{token}"))


def _help(turn: Turn, _member: SatgasMember, _command: Command) -> None:
    turn.say(turn.content.text("satgas_help"))


ACTIONS: dict[str, Callable[[Turn, SatgasMember, Command], None]] = {
    "kasus": _list,
    "lihat": _show,
    "ambil": _claim,
    "catat": _note,
    "balas": _reply,
    "selesai": _resolve,
    "rujuk": _refer,
    "lepas": _unclaim,
    "peserta": _participants,
    "bantuan": _help,
    "masuk": _login_link,
}

FEATURE = Feature(name="satgas", commands=[handle_satgas_message], channel_command=is_group_command)
