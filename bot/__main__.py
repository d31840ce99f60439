"""Start Desmigras: `python -m bot` (used by `./dev run`).

With a channel configured in the environment (Telegram token, Twilio
credentials) it serves the web application; otherwise it opens the console chat.
"""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def main() -> None:
    from bot.channels import configured
    from bot.config import Settings

    settings = Settings()
    if configured(settings):  # TELEGRAM_BOT_TOKEN or TWILIO_* set: serve the webhooks
        from bot.web import main as serve

        serve()  # checks the channel settings (clear message, non-zero exit), then uvicorn
        return

    from bot.app import build_bot
    from bot.console import chat
    from bot.content import ContentError
    from bot.knowledge import knowledge_for
    from bot.privacy import configure_logging
    from nlu.classifier import ModelMissingError

    configure_logging(logging.WARNING)
    try:
        bot = build_bot(settings)
    except (ContentError, ModelMissingError) as error:
        sys.exit(f"Desmigras tidak bisa dimulai: {error}")
    knowledge_for(bot.content)  # seconds of scikit-learn at start, not in the first question
    chat(bot, sender=sys.argv[1] if len(sys.argv) > 1 else "warga")


if __name__ == "__main__":
    main()
