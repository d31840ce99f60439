"""The console's pages under /kelola: sign-in, case queue and case page (and
its print view), trainings, dashboard, "belum dipahami" and the audit view.

Every handler follows the same order: the session (no session: to the sign-in
page), the CSRF token on a POST (403), the role's permission (403), every
value the browser sent (`forms`: 400, or 404 for ids and codes), the record's
scope (404), then one transaction that calls the same domain operation as the
chat command and writes the audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.app import Bot
from bot.core import deliver
from bot.domain import accounts, broadcasts, casework, cases, web_sessions
from bot.domain.accounts import Viewer
from bot.domain.catalog_file import catalog_for
from bot.domain.villages import village_members
from bot.kelola import audit_trail, charts, conversation, forms, nudge, queries, security, spreadsheet, unread
from bot.kelola.access import allowed, home_of
from bot.kelola.forms import BadInput, NotFound
from bot.kelola.village_table import village_table
from bot.message_templates import templates_for
from bot.storage.db import again_if_disconnected
from bot.storage.broadcast_models import TOPICS, Broadcast
from bot.storage.complaint_models import STATUSES, Case
from bot.storage.console_models import NluExample
from bot.storage.models import Event, SatgasMember, Village
from bot.storage.training_models import CONFIRMED, WAITLISTED, Training, TrainingRegistration

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# The console's one script (CSP script-src 'self'): new replies without reloading, the print button.
SCRIPT = Path(__file__).parent / "static" / "konsol.js"
# Registration statuses as the registrants page words them.
REGISTRATION_STATUS = {CONFIRMED: "terdaftar", WAITLISTED: "daftar tunggu"}
# A spreadsheet of cases stops here (the filter narrows it).
EXPORT_LIMIT = 10_000
CASE_ACTIONS = ("ambil", "catat", "balas", "selesai", "rujuk", "lepas", "buka", "tugaskan", "ingatkan")
# The permission each case action needs beyond seeing the case; the rest are the satgas's work.
ACTION_PERMISSION = {"catat": "case_note", "buka": "case_reopen", "tugaskan": "case_assign", "ingatkan": "case_nudge"}
# Actions whose words the family reads and that close the case: shown first as
# the message the family will get, done only from that page (yakin=1).
CONFIRMED_ACTIONS = ("selesai", "rujuk")
# Chat texts that tell the satgas what to type, worded for the console.
WEB_WORDING = {"satgas_claimed": "web_claimed", "satgas_must_claim": "web_must_claim"}
# What an empty text box means for each action (400 with this message).
NEEDS_TEXT = {"catat": "web_need_text", "balas": "web_need_text", "selesai": "web_need_outcome",
              "rujuk": "web_need_referral_note", "buka": "web_need_reason"}
MAX_TEXT = 2000


class Forbidden(Exception):
    """403: the role may not do this."""


class Console:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.settings = cases.settings_for(bot.content.directory)

    # --- plumbing ----------------------------------------------------------------------
    def now(self) -> datetime:
        return self.bot.clock.now()

    def render(self, request: Request, template: str, viewer: Optional[Viewer], status: int = 200, **context: Any) -> HTMLResponse:
        flash = request.session.pop("flash", None)
        if flash:
            flash = str(flash).replace("*", "")  # chat texts mark bold with *...*; a page does not
        return TEMPLATES.TemplateResponse(
            request,
            template,
            {
                "viewer": viewer,
                "csrf": security.csrf_token(request.session),
                "flash": flash,
                "allowed": (lambda action: viewer is not None and allowed(viewer.role, action)),
                "local": lambda moment: cases.local_time(self.settings, moment) if moment else "-",
                # A case's moments: an observer gets the date only (issue 26: in a small
                # village a report's exact time, beside village and country, can point to a family).
                "case_moment": lambda moment: "-" if not moment else (
                    cases.local_time(self.settings, moment) if viewer is not None and allowed(viewer.role, "case_personal")
                    else cases.local_date(self.settings, moment)),
                "unread_total": getattr(request.state, "unread_total", 0),
                **context,
            },
            status_code=status,
        )

    def page(self, action: Optional[str], handler: Callable[..., Any], touch: bool = True) -> Callable[[Request], Any]:
        """Wrap a handler with the session, CSRF and permission checks.
        `touch=False`: a background poll, which does not keep the session alive."""

        async def endpoint(request: Request) -> Response:
            form = await request.form() if request.method == "POST" else None
            if form is not None and not security.csrf_ok(request.session, form.get("csrf")):  # type: ignore[arg-type]
                return PlainTextResponse("Token formulir tidak sah. Muat ulang halaman lalu coba lagi.", status_code=403)
            token = security.session_token(request.session)
            viewer = await run_in_threadpool(self._viewer, token, touch) if token is not None else None
            if viewer is None:
                request.session.pop("sid", None)
                return RedirectResponse("/kelola/masuk?" + urlencode({"lanjut": request.url.path}), status_code=303)
            if allowed(viewer.role, "case_personal"):
                request.state.unread_total = await run_in_threadpool(self._unread_total, viewer)
            if action is not None and not allowed(viewer.role, action):
                return self.render(request, "message.html", viewer, status=403, title="Tidak diizinkan",
                                   message="Peran Anda tidak boleh membuka halaman atau melakukan tindakan ini.")
            try:
                return await handler(request, viewer, form)
            except NotFound:
                return self.render(request, "message.html", viewer, status=404, title="Tidak ditemukan",
                                   message="Halaman atau data ini tidak ada, atau bukan wilayah Anda.")
            except Forbidden:
                return self.render(request, "message.html", viewer, status=403, title="Tidak diizinkan",
                                   message="Peran Anda tidak boleh melakukan tindakan ini.")
            except BadInput as error:
                return self.bad_input(request, viewer, str(error))

        return endpoint

    def bad_input(self, request: Request, viewer: Optional[Viewer], message: str) -> Response:
        return self.render(request, "message.html", viewer, status=400, title="Isian tidak sah", message=message)

    def _viewer(self, token: str, touch: bool = True) -> Optional[Viewer]:
        """The server-side session and its account, re-read on every request.
        The first query of every page: after a database restart it is the one
        that finds the dropped connection, and runs again on a new one."""
        now = self.now()

        def read() -> Optional[Viewer]:
            with self.bot.sessions() as session, session.begin():
                uid = web_sessions.user_of(session, token, now, touch=touch)
                return accounts.viewer_of(session, uid) if uid is not None else None

        return again_if_disconnected(read)

    def _unread_total(self, viewer: Viewer) -> int:
        """Open cases with a family message this viewer has not seen (menu badge, title)."""
        with self.bot.sessions() as session:
            return unread.cases_with_news(session, viewer)

    def audit(self, session: Session, viewer: Viewer, kind: str, **data: Any) -> None:
        session.add(Event(contact_id=None, kind=kind, actor=f"web:{viewer.username}", data=data, created_at=self.now()))

    # --- signing in -------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        target = request.query_params.get("lanjut", "")
        if request.method == "GET":
            return self.render(request, "login.html", None, target=target, error="")
        form = await request.form()
        if not security.csrf_ok(request.session, form.get("csrf")):  # type: ignore[arg-type]
            return PlainTextResponse("Token formulir tidak sah. Muat ulang halaman lalu coba lagi.", status_code=403)
        username = forms.text(form, "nama", 60).lower()
        password = str(form.get("sandi", ""))[:200]
        # The peer, or what a proxy in DESMIGRAS_TRUSTED_PROXIES says it is
        # (bot.web puts uvicorn's ProxyHeadersMiddleware in front for those only).
        address = request.client.host if request.client else "-"
        now = self.now()

        def check() -> tuple[Optional[tuple[str, str]], Optional[timedelta]]:
            with self.bot.sessions() as session, session.begin():
                user = accounts.authenticate(session, username, password, address, now)
                if user is None:
                    session.add(Event(kind="web_login_failed", actor=f"web:{username}", data={}, created_at=now))
                    return None, accounts.retry_after(session, username, address, now)
                session.add(Event(kind="web_login", actor=f"web:{user.username}", data={"how": "sandi"}, created_at=now))
                return (web_sessions.start(session, user.id, now), user.role), None

        signed, wait = await run_in_threadpool(check)
        if signed is None:
            error = "Nama atau kata sandi salah."
            if wait is not None:  # said whether or not this password was right: a waiting try is not checked
                error = f"Terlalu banyak percobaan masuk yang gagal. Coba lagi {_minutes(wait)} menit lagi."
            return self.render(request, "login.html", None, status=401, target=target, error=error)
        security.start_session(request.session, signed[0])
        return RedirectResponse(_local_path(str(form.get("lanjut", ""))) or home_of(signed[1]), status_code=303)

    async def link(self, request: Request) -> Response:
        """The one-time link from chat. A GET only shows a "Masuk" button: chat
        apps fetch links for their previews, and such a fetch must not spend
        it. The button POSTs back with the CSRF token of this browser's cookie
        (a page from elsewhere can neither read it nor send the cookie along,
        SameSite=Lax), and only that POST spends the link."""
        token = request.path_params["token"]
        now = self.now()
        if request.method == "GET":

            def check() -> bool:
                with self.bot.sessions() as session:
                    return accounts.link_is_valid(session, token, now)

            if not await run_in_threadpool(check):
                return self._link_gone(request)
            return self.render(request, "link.html", None, action=request.url.path)
        form = await request.form()
        if not security.csrf_ok(request.session, form.get("csrf")):  # type: ignore[arg-type]
            return PlainTextResponse("Token formulir tidak sah. Muat ulang halaman lalu coba lagi.", status_code=403)

        def redeem() -> Optional[tuple[str, str]]:
            with self.bot.sessions() as session, session.begin():
                user = accounts.redeem_link(session, token, now)
                if user is None:
                    return None
                session.add(Event(kind="web_login", actor=f"web:{user.username}", data={"how": "tautan"}, created_at=now))
                return web_sessions.start(session, user.id, now), user.role

        signed = await run_in_threadpool(redeem)
        if signed is None:
            return self._link_gone(request)
        security.start_session(request.session, signed[0])
        return RedirectResponse(home_of(signed[1]), status_code=303)

    def _link_gone(self, request: Request) -> Response:
        return self.render(request, "message.html", None, status=404, title="Tautan tidak berlaku",
                           message="Tautan ini sudah dipakai atau sudah lewat 10 menit. Ketik *masuk* di chat untuk tautan baru.")

    async def logout(self, request: Request, viewer: Viewer, form: Any) -> Response:
        """Ends the session on the server: a copy of this cookie is dead too."""
        token = security.session_token(request.session)

        def end() -> None:
            with self.bot.sessions() as session, session.begin():
                if token is not None:
                    web_sessions.end(session, token)
                session.add(Event(kind="web_logout", actor=f"web:{viewer.username}", data={}, created_at=self.now()))

        await run_in_threadpool(end)
        request.session.clear()
        return RedirectResponse("/kelola/masuk", status_code=303)

    async def index(self, request: Request, viewer: Viewer, form: Any) -> Response:
        return RedirectResponse(home_of(viewer.role), status_code=303)

    # --- cases ---------------------------------------------------------------------------------
    async def queue(self, request: Request, viewer: Viewer, form: Any) -> Response:
        chosen = queries.QueueFilter.from_query(request.query_params)
        if chosen.category and chosen.category not in self.settings.categories:
            raise BadInput("Jenis kasus pada saringan tidak dikenal. Pilih dari daftar jenis.")
        now = self.now()

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session:
                villages = [v for v in session.execute(select(Village).order_by(Village.name)).scalars() if viewer.sees_village(v.code)]
                if chosen.village and chosen.village not in {v.code for v in villages}:
                    raise BadInput("Desa pada saringan tidak dikenal atau bukan wilayah Anda. Pilih dari daftar desa.")
                shown = queries.queue(session, viewer, chosen, self.settings, now, personal=allowed(viewer.role, "case_personal"))
                if allowed(viewer.role, "case_personal"):
                    news = unread.per_case(session, viewer, [row.case.id for row in shown.rows])
                    for row in shown.rows:
                        row.unread = news.get(row.case.id, 0)
                return {
                    "rows": shown.rows,
                    "shown": shown,
                    "counts": queries.status_counts(session, viewer),
                    "villages": villages,
                    "latest": queries.latest_case(session, viewer),
                }

        data = await run_in_threadpool(read)
        return self.render(request, "queue.html", viewer, chosen=chosen, statuses=STATUSES, settings=self.settings, **data)

    async def queue_news(self, request: Request, viewer: Viewer, form: Any) -> Response:
        """What konsol.js asks every ~20 s on the queue: the newest case in the
        viewer's villages (a new one shows a "muat ulang" notice) and, for roles
        that read the family's words, the unread count per open case and in all."""

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session:
                news: dict[str, Any] = {"terbaru": queries.latest_case(session, viewer)}
                if allowed(viewer.role, "case_personal"):
                    per_case = unread.open_cases_with_news(session, viewer)
                    news.update(belum_dibaca=per_case, jumlah=len(per_case))
                return news

        return JSONResponse(await run_in_threadpool(read), headers={"Cache-Control": "no-store"})

    async def script(self, request: Request) -> Response:
        return FileResponse(SCRIPT, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})

    async def queue_csv(self, request: Request, viewer: Viewer, form: Any) -> Response:
        """The cases of the queue's filter (every page, up to EXPORT_LIMIT) for
        a spreadsheet. Personal columns only for roles that may read them; an
        observer gets dates without times and no staff names, which in a small
        village could point to a family."""
        chosen = queries.QueueFilter.from_query(request.query_params)
        personal = allowed(viewer.role, "case_personal")
        now, settings = self.now(), self.settings
        zone = settings.timezone_label

        def when(moment: Optional[datetime]) -> str:
            if moment is None:
                return ""
            return cases.local_time(settings, moment) if personal else cases.local_date(settings, moment)

        def read() -> str:
            with self.bot.sessions() as session, session.begin():
                villages = dict(session.execute(select(Village.code, Village.name)).all())
                members = dict(session.execute(select(SatgasMember.id, SatgasMember.name)).all())
                found = session.execute(queries.matching(viewer, chosen, settings, now, personal).limit(EXPORT_LIMIT)).scalars()
                header = ["Kode", "Desa", "Jenis", "Status", "Mendesak", f"Dilaporkan ({zone})" if personal else "Tanggal lapor",
                          f"Diambil ({zone})" if personal else "Tanggal diambil", f"Ditutup ({zone})" if personal else "Tanggal ditutup",
                          "Dirujuk ke"]
                if personal:
                    header += ["Petugas", "Nama pekerja", "Negara", "Majikan/agen", "Telepon"]
                rows = []
                for case in found:
                    row = [case.code, villages.get(case.village_code, case.village_code),
                           settings.categories.get(case.category, case.category), settings.statuses.get(case.status, case.status),
                           "ya" if case.urgent else "tidak", when(case.created_at), when(case.claimed_at), when(case.closed_at),
                           settings.referrals.get(case.referred_to or "", case.referred_to or "")]
                    if personal:
                        row += [members.get(case.assigned_to, "") if case.assigned_to else "", case.worker_name or "",
                                self.bot.content.country_name(case.country) if case.country else "", case.employer or "",
                                spreadsheet.phone_as_text(case.contact_phone)]
                    rows.append(row)
                self.audit(session, viewer, "web_export", what="cases", count=len(rows))
                return spreadsheet.body(header, rows)

        body = await run_in_threadpool(read)
        return spreadsheet.download(body, f"kasus-{clock_date(now, settings)}.csv")

    async def case(self, request: Request, viewer: Viewer, form: Any) -> Response:
        code = forms.code(request.path_params["code"], forms.CASE_CODE)
        personal = allowed(viewer.role, "case_personal")

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session, session.begin():
                case = queries.visible_case(session, viewer, code)
                if case is None:
                    raise NotFound
                news: dict[str, int] = {}
                if personal:  # who can read the family's words has now seen them
                    unread.mark_read(session, viewer, case, self.now())
                    news["unread_total"] = unread.cases_with_news(session, viewer)
                village, entries = _village_and_timeline(session, case, personal)
                return {
                    "case": case,
                    "village": village,
                    "last_nudge": nudge.last_nudge(session, case) if allowed(viewer.role, "case_nudge") else None,
                    "nudge_every_hours": int(nudge.NUDGE_EVERY.total_seconds() // 3600),
                    "assignee": casework.assignee_name(self._desk(session, viewer), case),
                    "lines": conversation.conversation(entries, self.bot.content),
                    "mine": viewer.member_id is not None and case.assigned_to == viewer.member_id,
                    "country": self.bot.content.country_name(case.country) if case.country else "-",
                    "members": village_members(session, case.village_code) if allowed(viewer.role, "case_assign") else [],
                    **news,
                }

        data = await run_in_threadpool(read)
        return self.render(request, "case.html", viewer, personal=personal, settings=self.settings, **data)

    async def case_print(self, request: Request, viewer: Viewer, form: Any) -> Response:
        """The case on paper (a referral letter, a file copy): facts and history
        in words, no buttons, print CSS; the browser prints it or saves a PDF.
        The same scope and personal-data rule as the case page, and opening it
        is in the audit trail (a printout leaves the system)."""
        code = forms.code(request.path_params["code"], forms.CASE_CODE)
        personal = allowed(viewer.role, "case_personal")

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session, session.begin():
                case = queries.visible_case(session, viewer, code)
                if case is None:
                    raise NotFound
                village, entries = _village_and_timeline(session, case, personal)
                session.add(Event(contact_id=None, kind="web_print", actor=f"web:{viewer.username}", data={"case": case.code}, created_at=self.now()))
                return {
                    "case": case,
                    "village": village,
                    "assignee": casework.assignee_name(self._desk(session, viewer), case),
                    "lines": conversation.conversation(entries, self.bot.content),
                    "country": self.bot.content.country_name(case.country) if case.country else "-",
                }

        data = await run_in_threadpool(read)
        return self.render(request, "case_print.html", viewer, personal=personal, settings=self.settings, printed_at=self.now(), **data)

    async def case_action(self, request: Request, viewer: Viewer, form: Any) -> Response:
        code, action = forms.code(request.path_params["code"], forms.CASE_CODE), request.path_params["action"]
        if action not in CASE_ACTIONS:
            raise NotFound
        needed = ACTION_PERMISSION.get(action, "case_work")
        if not allowed(viewer.role, needed):
            raise Forbidden
        text = forms.text(form, "teks", MAX_TEXT)
        target = forms.text(form, "tujuan", 40)
        if action == "tugaskan":
            target = str(forms.record_id(form.get("anggota")))  # a number that cannot be a member: 404
        if action in NEEDS_TEXT and not text:
            raise BadInput(self.bot.content.text(NEEDS_TEXT[action]))
        if action == "rujuk" and target not in self.settings.referrals:
            raise BadInput("Pilih tujuan rujukan dari daftar: " + ", ".join(self.settings.referrals.values()) + ".")
        if action in CONFIRMED_ACTIONS and form.get("yakin") != "1":
            return await self._confirm(request, viewer, code, action, text, target)

        def act() -> str:
            with self.bot.sessions() as session, session.begin():
                desk = self._desk(session, viewer)
                case = queries.visible_case(session, viewer, code)
                if case is None:
                    raise NotFound
                result = self._do(session, desk, viewer, case, action, text, target)
                self.audit(session, viewer, "web_action", action=action, case=case.code, done=result.done)
                return result.text

        request.session["flash"] = await run_in_threadpool(act)
        return RedirectResponse(f"/kelola/kasus/{code}", status_code=303)

    async def _confirm(self, request: Request, viewer: Viewer, code: str, action: str, text: str, target: str) -> Response:
        """The step before closing a case: the exact message the family will
        read, and one button that does it. Nothing changes until that button."""

        def read() -> Any:
            with self.bot.sessions() as session:
                case = queries.visible_case(session, viewer, code)
                if case is None:
                    raise NotFound
                return case

        case = await run_in_threadpool(read)
        if action == "rujuk":
            family = self.bot.content.text("reporter_referred", code=case.code, target=self.settings.referrals[target], outcome=text)
        else:
            family = self.bot.content.text("reporter_resolved", code=case.code, outcome=text)
        return self.render(request, "case_confirm.html", viewer, case=case, action=action, text=text, target=target,
                           target_name=self.settings.referrals.get(target, ""), family=family.replace("*", ""))

    def _do(self, session: Session, desk: casework.Desk, viewer: Viewer, case: Any, action: str, text: str, target: str) -> casework.Result:
        if action == "catat":
            return casework.note(desk, viewer.actor, case, text)
        if action == "buka":
            return casework.reopen(desk, viewer.actor, case, text)
        if action == "ingatkan":
            return nudge.nudge(desk, viewer.actor, case)
        if action == "tugaskan":
            chosen = session.get(SatgasMember, int(target))
            if chosen is None:
                raise NotFound
            return casework.assign(desk, viewer.actor, case, chosen)
        member = accounts.member_of(session, viewer)
        if member is None:
            raise Forbidden
        if action == "ambil":
            return casework.claim(desk, member, case)
        if action == "balas":
            return casework.reply(desk, member, case, text)
        if action == "selesai":
            return casework.resolve(desk, member, case, text)
        if action == "rujuk":
            return casework.refer(desk, member, case, target, text)
        return casework.release(desk, member, case)

    def _desk(self, session: Session, viewer: Viewer) -> casework.Desk:
        now = self.now()

        def audit(kind: str, actor: Optional[str] = None, **data: Any) -> None:
            session.add(Event(contact_id=None, kind=kind, actor=actor or viewer.actor, data={**data, "via": "web"}, created_at=now))

        return casework.Desk(
            session=session,
            content=self.bot.content,
            now=now,
            notify=lambda note: deliver(session, note, now),
            audit=audit,
            wording=WEB_WORDING,
        )

    # --- trainings -----------------------------------------------------------------------------
    def _trainings_for(self, session: Session, viewer: Viewer) -> list[Training]:
        trainings = list(session.execute(select(Training).where(Training.active.is_(True)).order_by(Training.start_at)).scalars())
        if viewer.role == "penyelenggara":
            return [t for t in trainings if accounts.organised_by(t, viewer)]
        return trainings

    def _training(self, session: Session, viewer: Viewer, training_id: str) -> Training:
        training = session.get(Training, forms.code(training_id, forms.TRAINING_ID, upper=False))
        if training is None or (viewer.role == "penyelenggara" and not accounts.organised_by(training, viewer)):
            raise NotFound
        return training

    async def trainings(self, request: Request, viewer: Viewer, form: Any) -> Response:
        def read() -> list[queries.TrainingRow]:
            with self.bot.sessions() as session:
                return queries.training_rows(session, self._trainings_for(session, viewer))

        rows = await run_in_threadpool(read)
        return self.render(request, "trainings.html", viewer, rows=rows)

    async def training(self, request: Request, viewer: Viewer, form: Any) -> Response:
        def read() -> dict[str, Any]:
            with self.bot.sessions() as session:
                training = self._training(session, viewer, request.path_params["id"])
                return {"row": queries.training_rows(session, [training])[0], "registrations": queries.registrations(session, training.id)}

        data = await run_in_threadpool(read)
        return self.render(request, "training.html", viewer, **data)

    async def training_csv(self, request: Request, viewer: Viewer, form: Any) -> Response:
        """Registrants for a spreadsheet (bot.kelola.spreadsheet): Indonesian
        columns and values, village time, phones as text, formula-safe."""
        audiences = catalog_for(self.bot.content.directory).audiences

        def read() -> tuple[str, str]:
            with self.bot.sessions() as session, session.begin():
                training = self._training(session, viewer, request.path_params["id"])
                villages = dict(session.execute(select(Village.code, Village.name)).all())
                rows = [
                    (
                        registration.code, registration.participant_name, spreadsheet.phone_as_text(registration.phone),
                        audiences.get(registration.relation, registration.relation),
                        villages.get(registration.village_code or "", registration.village_code or ""),
                        REGISTRATION_STATUS.get(registration.status, registration.status),
                        {True: "hadir", False: "tidak hadir", None: ""}[registration.attended],
                        cases.local_time(self.settings, registration.created_at),
                    )
                    for registration in queries.registrations(session, training.id)
                ]
                self.audit(session, viewer, "web_export", training=training.id)
                header = ["Kode", "Nama", "Telepon", "Hubungan", "Desa", "Status", "Kehadiran",
                          f"Waktu daftar ({self.settings.timezone_label})"]
                return training.id, spreadsheet.body(header, rows)

        training_id, body = await run_in_threadpool(read)
        return spreadsheet.download(body, f"peserta-{training_id}.csv")

    async def attendance(self, request: Request, viewer: Viewer, form: Any) -> Response:
        training_id = forms.code(request.path_params["id"], forms.TRAINING_ID, upper=False)
        code = forms.code(form.get("kode"), forms.REGISTRATION_CODE)
        present = forms.choice(form.get("hadir"), ("1", "0"), "Pilih hadir atau tidak hadir.") == "1"

        def mark() -> str:
            with self.bot.sessions() as session, session.begin():
                training = self._training(session, viewer, training_id)
                registration = session.execute(
                    select(TrainingRegistration).where(
                        TrainingRegistration.training_id == training.id, TrainingRegistration.code == code
                    )
                ).scalar_one_or_none()
                if registration is None:
                    raise NotFound
                registration.attended, registration.attendance_by = present, f"web:{viewer.username}"
                self.audit(session, viewer, "web_attendance", training=training.id, registration=registration.code, attended=present)
                return f"Kehadiran {registration.code} dicatat: {'hadir' if present else 'tidak hadir'}."

        request.session["flash"] = await run_in_threadpool(mark)
        return RedirectResponse(f"/kelola/pelatihan/{training_id}", status_code=303)

    # --- dashboard and what the bot did not understand ----------------------------------------------
    async def dashboard(self, request: Request, viewer: Viewer, form: Any) -> Response:
        now = self.now()

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session:
                figures = queries.dashboard(session, viewer, self.settings, now)
                since = datetime.combine(figures.weeks[0], datetime.min.time()) - timedelta(hours=self.settings.utc_offset_hours)
                villages = village_table(session, viewer, self.settings, now, since, with_unread=allowed(viewer.role, "case_personal"))
            return {
                "figures": figures,
                "villages": villages,
                # No case in the weeks shown: a sentence says so instead of an empty chart.
                "by_category": charts.stacked_weeks(figures.weeks, figures.per_week_by_category, "Kasus per minggu menurut jenis")
                if figures.per_week_by_category else "",
                "by_village": charts.stacked_weeks(figures.weeks, figures.per_week_by_village, "Kasus per minggu menurut desa")
                if figures.per_week_by_village else "",
                "daily": charts.daily_lines(figures.days, figures.messages_per_day, figures.not_understood_rate),
                "fill": charts.fill_bars(figures.fill),
            }

        data = await run_in_threadpool(read)
        return self.render(request, "dashboard.html", viewer, **data)

    async def unclear(self, request: Request, viewer: Viewer, form: Any) -> Response:
        now = self.now()

        def read() -> list[queries.UnclearGroup]:
            with self.bot.sessions() as session:
                return queries.not_understood(session, viewer, now)

        groups = await run_in_threadpool(read)
        menu = await run_in_threadpool(queries.label_menu, self.bot.content)
        names = {value: label for _group, options in menu for value, label in options}
        return self.render(request, "unclear.html", viewer, groups=groups, menu=menu, names=names)

    async def unclear_mark(self, request: Request, viewer: Viewer, form: Any) -> Response:
        """Only a message the page offers (answered with a clarification, inside
        the viewer's villages) can be marked (else 404), and only as one of the
        offered labels (else 400): the export is training data for the model."""
        raw_id = str(form.get("pesan", "")).strip()
        if not raw_id.isascii() or not raw_id.isdigit():
            raise BadInput("Pilih pesan dari daftar lalu tandai lagi.")
        message_id = forms.record_id(raw_id)
        label = forms.text(form, "label", 120)
        if label and ":" not in label:
            label = f"intent:{label}"
        labels = await run_in_threadpool(queries.label_choices, self.bot.content)
        label = forms.choice(label, labels, "Pilih maksud pesan atau pertanyaan dari daftar.")
        menu = await run_in_threadpool(queries.label_menu, self.bot.content)
        plain = {value: name for _group, options in menu for value, name in options}.get(label, label)
        now = self.now()

        def mark() -> str:
            with self.bot.sessions() as session, session.begin():
                inbound = queries.clarified_message(session, viewer, message_id, now)
                if inbound is None or not inbound.text:
                    raise NotFound
                existing = session.execute(select(NluExample).where(NluExample.inbound_id == inbound.id)).scalar_one_or_none()
                if existing is None:
                    names = queries.known_names(session, [inbound.contact_id]).get(inbound.contact_id, []) if inbound.contact_id else []
                    session.add(NluExample(inbound_id=inbound.id, contact_id=inbound.contact_id, text=queries.masked(inbound.text, names),
                                           label=label, marked_by=f"web:{viewer.username}", created_at=now))
                else:
                    existing.label = label
                self.audit(session, viewer, "web_nlu_example", label=label)
                return f"Pesan ditandai: {plain}."

        request.session["flash"] = await run_in_threadpool(mark)
        return RedirectResponse("/kelola/belum-dipahami", status_code=303)

    async def unclear_export(self, request: Request, viewer: Viewer, form: Any) -> Response:
        def read() -> str:
            with self.bot.sessions() as session, session.begin():
                self.audit(session, viewer, "web_export", what="nlu_examples")
                return queries.rasa_yaml(session)

        body = await run_in_threadpool(read)
        return Response(body, media_type="text/yaml; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="contoh-nlu.yml"', "Cache-Control": "no-store"})


    # --- the audit view ------------------------------------------------------------------------------
    async def audit_page(self, request: Request, viewer: Viewer, form: Any) -> Response:
        chosen = audit_trail.AuditFilter.from_query(request.query_params)

        def read() -> audit_trail.AuditPage:
            with self.bot.sessions() as session:
                return audit_trail.read(session, viewer, chosen)

        shown = await run_in_threadpool(read)
        return self.render(request, "audit.html", viewer, chosen=chosen, shown=shown, actions=audit_trail.ACTIONS)

    # --- broadcasts (the same operations as `bot.cli broadcast`) -------------------------------------
    # A district coordinator sees and acts on broadcasts to villages of the
    # district only; any other broadcast does not exist for them (404).
    def _broadcast_form(self, session: Session, viewer: Viewer, form: Any) -> dict[str, Any]:
        """The broadcast form, every value checked: a template, segment and
        topic the page offered this viewer, a speed in the domain's range (as the CLI)."""
        template = templates_for(self.bot.content.directory).get(str(form.get("template", "")))
        if template is None:
            raise NotFound
        choices = self._broadcast_choices(session, viewer)
        speed = str(form.get("per_menit") or "").strip() or "60"
        slowest, fastest = broadcasts.PER_MINUTE_RANGE
        return {
            "template": template,
            "title": forms.text(form, "judul_siaran", 160),
            "segment": forms.choice(form.get("segmen"), {value for value, _label in choices["segments"]},
                                    "Pilih penerima dari daftar; segmen ini tidak ada atau di luar wilayah Anda."),
            "topic": forms.choice(form.get("topik"), TOPICS, f"Pilih topik dari daftar: {', '.join(TOPICS)}."),
            "per_minute": forms.whole_number(speed, slowest, fastest,
                                             f"Kecepatan harus bilangan bulat {slowest} sampai {fastest} pesan per menit."),
            "variables": {v.name: forms.text(form, f"isian_{v.name}", MAX_TEXT) for v in template.variables},
        }

    def _broadcast_choices(self, session: Session, viewer: Viewer) -> dict[str, Any]:
        villages = [v for v in session.execute(select(Village).order_by(Village.name)).scalars() if viewer.sees_village(v.code)]
        segments = [(f"desa:{v.code}", f"Warga {v.name}") for v in villages]
        if viewer.villages is None:  # trainings, topics and everyone reach beyond any district
            trainings = list(session.execute(select(Training).where(Training.active.is_(True)).order_by(Training.start_at)).scalars())
            segments += [(f"pelatihan:{t.id}", f"Pendaftar {t.title}") for t in trainings]
            segments += [(f"topik:{topic}", f"Yang setuju menerima {topic}") for topic in TOPICS]
            segments.append(("semua", "Semua kontak"))
        return {"segments": segments, "topics": TOPICS,
                "templates": [t for t in templates_for(self.bot.content.directory).values() if t.name.startswith("siaran_")]}

    async def broadcasts_page(self, request: Request, viewer: Viewer, form: Any) -> Response:
        chosen = request.query_params.get("template", "siaran_peringatan")

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session:
                reports = [broadcasts.report(session, b.id) for b in queries.visible_broadcasts(session, viewer, 30)]
                return {"reports": reports, **self._broadcast_choices(session, viewer)}

        data = await run_in_threadpool(read)
        template = templates_for(self.bot.content.directory).get(chosen)
        if template is None:
            raise NotFound
        return self.render(request, "broadcasts.html", viewer, chosen=template, draft=None, preview=None, **data)

    async def broadcast_preview(self, request: Request, viewer: Viewer, form: Any) -> Response:
        now = self.now()

        def read() -> dict[str, Any]:
            with self.bot.sessions() as session:
                draft = self._broadcast_form(session, viewer, form)
                try:
                    counted = broadcasts.preview(session, draft["segment"], draft["topic"], draft["template"], now)
                except broadcasts.BroadcastError as error:
                    raise BadInput(str(error)) from error
                return {"draft": draft, "preview": counted, **self._broadcast_choices(session, viewer)}

        data = await run_in_threadpool(read)
        return self.render(request, "broadcasts.html", viewer, chosen=data["draft"]["template"], reports=[], **data)

    async def broadcast_send(self, request: Request, viewer: Viewer, form: Any) -> Response:
        now = self.now()

        def create() -> str:
            with self.bot.sessions() as session, session.begin():
                draft = self._broadcast_form(session, viewer, form)
                made = broadcasts.create(
                    session, title=draft["title"] or draft["template"].purpose, topic=draft["topic"], template=draft["template"],
                    variables=draft["variables"], segment=draft["segment"], created_by=f"web:{viewer.username}", now=now,
                    per_minute=draft["per_minute"],
                )
                self.audit(session, viewer, "web_broadcast", broadcast=made.id, segment=draft["segment"], topic=draft["topic"])
                return f"Siaran {made.id} dibuat dan akan dikirim oleh pekerja pengiriman."

        try:
            request.session["flash"] = await run_in_threadpool(create)
        except broadcasts.BroadcastError as error:
            request.session["flash"] = str(error)
        return RedirectResponse("/kelola/siaran", status_code=303)

    async def broadcast_cancel(self, request: Request, viewer: Viewer, form: Any) -> Response:
        broadcast_id = forms.record_id(request.path_params["id"])
        now = self.now()

        def cancel() -> str:
            with self.bot.sessions() as session, session.begin():
                broadcast = session.get(Broadcast, broadcast_id)
                if broadcast is None or not queries.broadcast_visible(viewer, broadcast.segment):
                    raise NotFound
                stopped = broadcasts.cancel(session, broadcast_id, now)
                self.audit(session, viewer, "web_broadcast_cancel", broadcast=broadcast_id)
                return f"Siaran {broadcast_id} dibatalkan; {stopped} pesan yang belum terkirim dibatalkan."

        try:
            request.session["flash"] = await run_in_threadpool(cancel)
        except broadcasts.BroadcastError as error:
            request.session["flash"] = str(error)
        return RedirectResponse("/kelola/siaran", status_code=303)


def _village_and_timeline(session: Session, case: Case, personal: bool) -> tuple[str, list[Any]]:
    """What the case page and its print view both show: the village's name and
    the history in words, opened by the family's story for who may read it."""
    village = session.get(Village, case.village_code)
    entries = queries.timeline(session, case, personal)
    for entry in entries:
        if entry.kind == "dibuat" and personal:
            entry.note = case.description or ""  # the family's story opens the conversation
    return (village.name if village else case.village_code), entries


def clock_date(moment: datetime, settings: cases.ComplaintSettings) -> str:
    """The village's date of a moment, for file names (2026-12-08)."""
    return f"{moment + timedelta(hours=settings.utc_offset_hours):%Y-%m-%d}"


def _minutes(wait: timedelta) -> int:
    """A wait in whole minutes, rounded up (never "0 menit")."""
    return max(1, -int(-wait.total_seconds() // 60))


def _local_path(target: str) -> str:
    """Only a path inside the console may follow a sign-in (no open redirect)."""
    return target if target.startswith("/kelola") and "//" not in target and "\\" not in target else ""


def build_console(bot: Bot, secret: str, secure: bool) -> Starlette:
    console = Console(bot)
    page = console.page
    routes = [
        Route("/", page(None, console.index), methods=["GET"]),
        Route("/masuk", console.login, methods=["GET", "POST"]),
        Route("/tautan/{token}", console.link, methods=["GET", "POST"]),
        Route("/keluar", page(None, console.logout), methods=["POST"]),
        Route("/antrean", page("queue", console.queue), methods=["GET"]),
        Route("/antrean.csv", page("queue", console.queue_csv), methods=["GET"]),
        Route("/antrean/baru.json", page("queue", console.queue_news, touch=False), methods=["GET"]),
        Route("/konsol.js", console.script, methods=["GET"]),
        Route("/kasus/{code}/cetak", page("case_view", console.case_print), methods=["GET"]),
        Route("/kasus/{code}", page("case_view", console.case), methods=["GET"]),
        Route("/kasus/{code}/{action}", page("case_view", console.case_action), methods=["POST"]),
        Route("/pelatihan", page("trainings", console.trainings), methods=["GET"]),
        Route("/pelatihan/{id}", page("registrants", console.training), methods=["GET"]),
        Route("/pelatihan/{id}/peserta.csv", page("registrants", console.training_csv), methods=["GET"]),
        Route("/pelatihan/{id}/hadir", page("registrants", console.attendance), methods=["POST"]),
        Route("/dasbor", page("dashboard", console.dashboard), methods=["GET"]),
        Route("/jejak", page("audit", console.audit_page), methods=["GET"]),
        Route("/belum-dipahami", page("not_understood", console.unclear), methods=["GET"]),
        Route("/belum-dipahami/tandai", page("not_understood", console.unclear_mark), methods=["POST"]),
        Route("/belum-dipahami/contoh-nlu.yml", page("not_understood", console.unclear_export), methods=["GET"]),
        Route("/siaran", page("broadcasts", console.broadcasts_page), methods=["GET"]),
        Route("/siaran/pratinjau", page("broadcasts", console.broadcast_preview), methods=["POST"]),
        Route("/siaran/kirim", page("broadcasts", console.broadcast_send), methods=["POST"]),
        Route("/siaran/{id}/batal", page("broadcasts", console.broadcast_cancel), methods=["POST"]),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie="desmigras_kelola",
            max_age=int(security.SESSION_LIMIT.total_seconds()),
            path="/kelola",
            same_site="lax",
            https_only=secure,
        )
    ]
    return Starlette(routes=routes, middleware=middleware)
