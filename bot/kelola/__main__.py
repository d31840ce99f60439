"""`./dev web`: the web console at http://127.0.0.1:8000/kelola, with the
channels' webhooks too when they are configured.

On the embedded default (SQLite) it needs nothing else; it prints how to
create the first account.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ["DESMIGRAS_CONSOLE"] = "1"
    from bot.cli import open_sessions
    from bot.config import Settings
    from bot.domain.accounts import all_users
    from bot.privacy import configure_logging
    from bot.web import SERVER_OPTIONS, prepare_database
    from nlu.worker_process import share_own_worker

    configure_logging()
    settings = Settings()
    prepare_database(settings)
    with open_sessions(settings)() as session:
        has_users = bool(all_users(session))
    address = f"http://{settings.web_host}:{settings.web_port}/kelola"
    print(f"Konsol web: {address}", file=sys.stderr)
    if not has_users:
        print(
            "Belum ada akun. Buat akun pertama, misalnya:\n"
            "  ./dev py -m bot.cli users add koordinator1 --role koordinator --password-stdin\n"
            "(ketik kata sandinya lalu Enter; minimal 10 karakter)",
            file=sys.stderr,
        )
    share_own_worker(settings.model_dir)
    import uvicorn

    uvicorn.run(
        "bot.web:create_app",
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        workers=1,
        log_config=None,
        ws="none",
        **SERVER_OPTIONS,  # forwarded headers only from DESMIGRAS_TRUSTED_PROXIES
    )


if __name__ == "__main__":
    main()
