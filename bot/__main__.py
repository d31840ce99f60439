"""Start Desmigras: `python -m bot` (used by `./dev run`)."""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def main() -> None:
    from bot.privacy import configure_logging

    configure_logging(logging.WARNING)
    from bot.app import build_bot
    from bot.config import Settings
    from bot.content import ContentError
    from nlu.classifier import ModelMissingError

    settings = Settings()
    try:
        bot = build_bot(settings)
    except (ContentError, ModelMissingError) as error:
        sys.exit(f"Desmigras tidak bisa dimulai: {error}")
    from bot.console import chat

    chat(bot, sender=sys.argv[1] if len(sys.argv) > 1 else "warga")


if __name__ == "__main__":
    main()
