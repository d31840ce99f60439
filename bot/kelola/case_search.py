"""Finding a case in the queue by what staff remember of it (issue 26): its
code, the worker's name, the employer or agency, or a phone number.

Only what the viewer may read is searched: an observer, who sees no names,
finds cases by code only (otherwise a typed name would answer "a case about
this person exists here"). The reporter's chat number is never searched: the
satgas never sees it. Phone numbers match on their digits, with the national 0
and the country code 62 read as the same ("0812 3456" finds "+6281234567").
"""

from __future__ import annotations

import re
from typing import Any, Optional

from sqlalchemy import or_

from bot.storage.complaint_models import Case

MAX_SEARCH = 60
# Fewer digits than this would match almost any number.
MIN_PHONE_DIGITS = 4


def phone_digits(typed: str) -> list[str]:
    """The digit strings a typed number may appear as in a stored one."""
    digits = re.sub(r"[^0-9]", "", typed)
    if len(digits) < MIN_PHONE_DIGITS or len(digits) < len(re.sub(r"\s|[-+()]", "", typed)):
        return []  # not a phone number: letters in it
    forms = [digits]
    if digits.startswith("0"):
        forms.append("62" + digits[1:])
    elif digits.startswith("62"):
        forms.append("0" + digits[2:])
    return forms


def condition(typed: str, personal: bool) -> Optional[Any]:
    """The WHERE clause for a search, or None when nothing was typed."""
    words = " ".join(typed.split())
    if not words:
        return None
    found = [Case.code.icontains(words.upper(), autoescape=True)]
    if personal:
        found += [Case.worker_name.icontains(words, autoescape=True), Case.employer.icontains(words, autoescape=True)]
        found += [Case.contact_phone.contains(form, autoescape=True) for form in phone_digits(words)]
    return or_(*found)
