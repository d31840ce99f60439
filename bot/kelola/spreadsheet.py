"""CSV files the console hands to spreadsheets (issue 26).

Staff open these in Excel, LibreOffice or Google Sheets on an Indonesian
computer: without a byte order mark Excel reads UTF-8 as another code page
(names with é or ’ come out garbled); a phone number like +6281234500078
becomes 6.28E+12; English codes (confirmed, purna_pmi) and UTC times are not
what the page showed. So every file starts with a UTF-8 BOM, columns and
values are Indonesian words, times are village time with the zone named
("08-12-2026 08:00 WIB"), Indonesian phone numbers are written as people
write them ("0812-3450-0078": dialable, and text to every spreadsheet), and
every cell is formula-safe (bot.csv_safe).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Sequence

from starlette.responses import Response

from bot.csv_safe import cell

BOM = "\ufeff"
_INDONESIAN = re.compile(r"^\+62([0-9]{3})([0-9]{3,4})([0-9]{3,5})$")


def phone_as_text(phone: str | None) -> str:
    """+6281234500078 -> 0812-3450-0078. Any other number stays as stored
    (an E.164 number is left alone by the formula escaping)."""
    value = (phone or "").strip()
    match = _INDONESIAN.match(value)
    return f"0{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else value


def body(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return BOM + buffer.getvalue()


def download(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
