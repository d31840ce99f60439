"""Villages and their satgas, from content/villages.yml into the database.

The file is the source of truth that staff edit; the database copy lets cases
reference a village and lets authorisation be checked inside a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.content import ContentError, _load_yaml
from bot.storage.models import SatgasMember, Village

SATGAS_CHANNELS = ("telegram", "whatsapp", "console")


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
    raw = _load_yaml(path)
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
        escalation = item.get("escalation")
        if escalation:
            if escalation.get("channel") not in SATGAS_CHANNELS or not escalation.get("address"):
                raise ContentError(f"{where} -> escalation: isi 'channel' ({SATGAS_CHANNELS}) dan 'address'")
            escalation = (str(escalation["channel"]), str(escalation["address"]))
        members = []
        for m_index, member in enumerate(item.get("satgas") or []):
            here = f"{where} -> satgas[{m_index}]"
            if not isinstance(member, dict) or not member.get("name"):
                raise ContentError(f"{here}: 'name' wajib diisi")
            identities = tuple((ch, str(member[ch])) for ch in SATGAS_CHANNELS if member.get(ch))
            if not identities:
                raise ContentError(f"{here}: isi minimal satu kontak (telegram, whatsapp, atau console)")
            members.append(MemberConfig(str(member["name"]), str(member.get("role", "anggota")), identities))
        group = item.get("telegram_group")
        villages.append(
            VillageConfig(
                code, str(item["name"]), str(item.get("district", "")), escalation or None, tuple(members),
                telegram_group=str(group) if group else None,
            )
        )
    return villages


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
