"""Who may do what in the web console: one table, read by every page.

A role grants actions; the viewer's scope (villages, organised trainings)
then decides which records. Outside the scope a record does not exist (404),
so case codes and training ids cannot be probed; an action the role lacks is
refused (403). `pengamat` sees counts and charts, never personal data.
"""

from __future__ import annotations

from bot.storage.console_models import ROLES

# action -> roles that may do it
PERMISSIONS: dict[str, frozenset[str]] = {
    "queue": frozenset({"koordinator", "satgas", "pengamat"}),
    "case_view": frozenset({"koordinator", "satgas", "pengamat"}),
    "case_personal": frozenset({"koordinator", "satgas"}),  # names, story, notes, evidence
    "case_note": frozenset({"koordinator", "satgas"}),
    # claim, reply, resolve, refer, release: the satgas who works the case, as in chat
    "case_work": frozenset({"satgas"}),
    # a referred or closed case back in the queue (issue 26), with a reason
    "case_reopen": frozenset({"koordinator"}),
    # give an open case to a member of its village (the member is told in chat)
    "case_assign": frozenset({"koordinator"}),
    # remind the member holding a case, by chat (once per case every 6 hours)
    "case_nudge": frozenset({"koordinator"}),
    # who did what to which case (the case's village scope; web and chat)
    "audit": frozenset({"koordinator", "satgas"}),
    "trainings": frozenset({"koordinator", "penyelenggara", "pengamat"}),
    "registrants": frozenset({"koordinator", "penyelenggara"}),  # names and phones, CSV, attendance
    "dashboard": frozenset({"koordinator", "satgas", "pengamat"}),
    "not_understood": frozenset({"koordinator"}),
    "broadcasts": frozenset({"koordinator"}),  # preview, send, report, cancel
}

assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())


def allowed(role: str, action: str) -> bool:
    return role in PERMISSIONS.get(action, frozenset())


def home_of(role: str) -> str:
    """Where a role lands after signing in."""
    return "/kelola/pelatihan" if role == "penyelenggara" else "/kelola/antrean"
