"""Villages and their satgas, from content/villages.yml into the database.

The file is the source of truth that staff edit; the database copy lets cases
reference a village and lets authorisation be checked inside a transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.content import ContentError, load_yaml
from bot.storage.models import SatgasMember, Village

SATGAS_CHANNELS = ("telegram", "whatsapp", "console")
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
TELEGRAM_ID = re.compile(r"^-?[0-9]{1,20}$")
PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def identity(channel: str, value: Any, where: str) -> str:
    """One contact address as the channels store it, or ContentError naming
    `where`. WhatsApp numbers become E.164 strings ("+62..."): that is how
    Twilio's sender arrives, so anything else would never be recognised.

    YAML reads an unquoted +6281... as the integer 6281... (the + is lost, and
    with it the certainty of what was meant), so a number that is not text is
    refused with the fix spelled out instead of being guessed."""
    if isinstance(value, bool) or value is None:
        raise ContentError(f"{where}: wajib diisi")
    if channel == "whatsapp":
        if not isinstance(value, str):
            raise ContentError(
                f"{where}: nomor WhatsApp harus ditulis dalam tanda kutip, misalnya '+6281234567890'"
                " (tanpa tanda kutip, tanda + hilang dan nomor tidak dikenali)"
            )
        return _e164(value, where)
    if channel == "telegram":
        text = str(value).strip() if isinstance(value, (int, str)) else ""
        if not TELEGRAM_ID.match(text):
            raise ContentError(f"{where}: chat id Telegram harus angka, misalnya 123456789 atau -1001234567890 (bukan @nama)")
        return text
    text = str(value).strip()
    if not text:
        raise ContentError(f"{where}: wajib diisi")
    return text


def _e164(value: str, where: str) -> str:
    digits = PHONE_SEPARATORS.sub("", value)
    if digits.startswith("0"):
        digits = "+62" + digits[1:]
    elif digits.startswith("62"):
        digits = "+" + digits
    if not E164.match(digits):
        raise ContentError(f"{where}: '{value}' bukan nomor WhatsApp yang benar; tulis seperti '+6281234567890'")
    return digits


@dataclass(frozen=True)
class MemberConfig:
    name: str
    role: str
    identities: tuple[tuple[str, str], ...]  # (channel, address)


@dataclass(frozen=True)
class VillageConfig:
    code: str
    name: str
    district: str
    escalation: Optional[tuple[str, str]]
    satgas: tuple[MemberConfig, ...]
    telegram_group: Optional[str] = None


def load_villages(content_dir: Path) -> list[VillageConfig]:
    path = content_dir / "villages.yml"
    raw = load_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("villages"), list):
        raise ContentError(f"{path}: daftar 'villages' wajib ada")
    villages: list[VillageConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(raw["villages"]):
        where = f"{path} -> villages[{index}]"
        if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
            raise ContentError(f"{where}: 'code' dan 'name' wajib diisi")
        code = str(item["code"])
        if code in seen:
            raise ContentError(f"{where}: kode desa '{code}' dobel")
        seen.add(code)
        members = tuple(_member(member, f"{where} -> satgas[{m_index}]") for m_index, member in enumerate(item.get("satgas") or []))
        group = item.get("telegram_group")
        villages.append(
            VillageConfig(
                code, str(item["name"]), str(item.get("district", "")), _escalation(item.get("escalation"), where), members,
                telegram_group=identity("telegram", group, f"{where} -> telegram_group") if group else None,
            )
        )
    return villages


def _escalation(raw: Any, where: str) -> Optional[tuple[str, str]]:
    if not raw:
        return None
    here = f"{where} -> escalation"
    if not isinstance(raw, dict) or raw.get("channel") not in SATGAS_CHANNELS or raw.get("address") in (None, ""):
        raise ContentError(f"{here}: isi 'channel' ({SATGAS_CHANNELS}) dan 'address'")
    channel = str(raw["channel"])
    return channel, identity(channel, raw["address"], f"{here} -> address")


def _member(raw: Any, here: str) -> MemberConfig:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise ContentError(f"{here}: 'name' wajib diisi")
    present = [ch for ch in SATGAS_CHANNELS if ch in raw and raw[ch] not in (None, "")]
    if not present:
        raise ContentError(f"{here}: isi minimal satu kontak (telegram, whatsapp, atau console)")
    identities = tuple((ch, identity(ch, raw[ch], f"{here} -> {ch}")) for ch in present)
    return MemberConfig(str(raw["name"]), str(raw.get("role", "anggota")), identities)


def sync_villages(session: Session, villages: list[VillageConfig]) -> None:
    """Upsert villages and satgas; members no longer in the file are deactivated."""
    session.execute(update(SatgasMember).values(active=False))
    for config in villages:
        village = session.get(Village, config.code) or Village(code=config.code)
        village.name, village.district, village.active = config.name, config.district, True
        village.escalation_channel, village.escalation_address = config.escalation or (None, None)
        village.telegram_group = config.telegram_group
        session.add(village)
        session.flush()
        for member in config.satgas:
            for channel, address in member.identities:
                row = session.execute(
                    select(SatgasMember).where(SatgasMember.channel == channel, SatgasMember.address == address)
                ).scalar_one_or_none() or SatgasMember(channel=channel, address=address)
                row.village_code, row.name, row.role, row.active = config.code, member.name, member.role, True
                session.add(row)


def satgas_identity(session: Session, channel: str, address: str) -> Optional[SatgasMember]:
    return session.execute(
        select(SatgasMember).where(
            SatgasMember.channel == channel, SatgasMember.address == address, SatgasMember.active.is_(True)
        )
    ).scalar_one_or_none()


def village_members(session: Session, village_code: str) -> list[SatgasMember]:
    return list(
        session.execute(
            select(SatgasMember)
            .where(SatgasMember.village_code == village_code, SatgasMember.active.is_(True))
            .order_by(SatgasMember.id)
        ).scalars()
    )


def alert_recipients(session: Session, village_code: str) -> list[tuple[str, str]]:
    """Where a village-wide alert goes: the village's Telegram group once (if set)
    plus every member identity that is not on Telegram; otherwise every identity."""
    village = session.get(Village, village_code)
    members = village_members(session, village_code)
    if village is not None and village.telegram_group:
        return [("telegram", village.telegram_group)] + [
            (m.channel, m.address) for m in members if m.channel != "telegram"
        ]
    return [(m.channel, m.address) for m in members]


def active_villages(session: Session) -> list[Village]:
    return list(session.execute(select(Village).where(Village.active.is_(True)).order_by(Village.name)).scalars())
