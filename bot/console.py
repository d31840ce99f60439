"""Chat with the bot in a terminal: the default channel when no token is set.

Replies go through the outbox like on every other channel, so what you see here
is exactly what a WhatsApp user would receive. One terminal can play several
people: `/sebagai satgas-jlamprang-1` switches to a satgas member from
content/villages.yml, and messages for other console identities are shown with
their addressee.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.app import Bot
from bot.messages import Inbound
from bot.storage.models import OutboundMessage

CHANNEL = "console"
HELP = (
    "Ketik pesan lalu Enter. Perintah konsol: /sebagai NAMA (ganti orang, mis. satgas-jlamprang-1), "
    "/keluar (selesai)."
)


def render(row: OutboundMessage) -> str:
    lines = [row.text]
    if row.options:
        lines.append("")
        lines.extend(f"{n}. {o['label']}" for n, o in enumerate(row.options, start=1))
    return "\n".join(lines)


def chat(bot: Bot, sender: str = "warga", stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    current = {"sender": sender}

    def show(row: OutboundMessage) -> str:
        to = "" if row.address == current["sender"] else f"[untuk {row.address}] "
        stdout.write("\nDesmigras> " + to + render(row).replace("\n", "\n           ") + "\n")
        stdout.flush()
        return ""

    def deliver() -> None:
        bot.run_timers()
        bot.outbox.deliver(CHANNEL, show, limit=100)

    stdout.write(f"Desmigras (konsol), Anda: {sender}. {HELP}\n")
    deliver()  # anything left from a previous run
    while True:
        stdout.write(f"\n{current['sender']}> ")
        stdout.flush()
        line = stdin.readline()
        if not line or line.strip() in ("/keluar", "/exit", "/quit"):
            stdout.write("\nSampai jumpa 🙏\n")
            return
        if line.startswith("/sebagai"):
            name = line.removeprefix("/sebagai").strip()
            if name:
                current["sender"] = name
                stdout.write(f"(sekarang Anda: {name})\n")
            continue
        bot.core.handle(Inbound(channel=CHANNEL, sender=current["sender"], text=line.rstrip("\n")))
        deliver()
