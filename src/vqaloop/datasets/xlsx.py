"""Just enough of Office Open XML spreadsheets (.xlsx) to read one sheet of a published MOS workbook, and to
write a one-sheet placeholder: the venv has no openpyxl, and pandas needs it to read .xlsx.

Reading follows ECMA-376 Part 1: ``xl/workbook.xml`` names the sheets and their relationship ids,
``xl/_rels/workbook.xml.rels`` maps an id to the sheet's part, cells are ``<c r="B3" t="...">`` with ``t="s"``
an index into ``xl/sharedStrings.xml``, ``t="inlineStr"`` text in ``<is>``, ``t="str"`` a formula's string,
``t="b"`` a boolean and no ``t`` a number.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_bytes_atomic

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
}
REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def column_index(ref: str) -> int:
    """0-based column of a cell reference ("A1" -> 0, "AB7" -> 27)."""
    letters = re.match(r"[A-Z]+", ref).group(0)
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - 64)
    return index - 1


def column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(node) -> str:
    return "".join(t.text or "" for t in node.iter(f"{{{NS['m']}}}t"))


def _cell_value(cell, shared: list[str]):
    kind = cell.get("t")
    if kind == "inlineStr":
        node = cell.find("m:is", NS)
        return _text(node) if node is not None else ""
    value = cell.find("m:v", NS)
    if value is None or value.text is None:
        return None
    if kind == "s":
        return shared[int(value.text)]
    if kind in ("str", "e"):
        return value.text
    if kind == "b":
        return value.text == "1"
    number = float(value.text)
    return int(number) if number.is_integer() and "." not in value.text and "E" not in value.text.upper() else number


def _sheet_part(archive: zipfile.ZipFile, sheet: str, path: Path) -> str:
    workbook = ET.fromstring(archive.read("xl/workbook.xml"))
    sheets = {s.get("name"): s.get(REL_ID) for s in workbook.iterfind("m:sheets/m:sheet", NS)}
    if sheet not in sheets:
        raise UserError(f"{path}: workbook has no sheet {sheet!r} (sheets: {', '.join(sheets) or 'none'})")
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next(r.get("Target") for r in rels.iterfind("pr:Relationship", NS) if r.get("Id") == sheets[sheet])
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def read_sheet(path: str | Path, sheet: str) -> pd.DataFrame:
    """One sheet as a DataFrame, its first row the header; one UserError line for a file that is not .xlsx."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            shared = []
            if "xl/sharedStrings.xml" in archive.namelist():
                root = ET.fromstring(archive.read("xl/sharedStrings.xml"))
                shared = [_text(si) for si in root.iterfind("m:si", NS)]
            data = ET.fromstring(archive.read(_sheet_part(archive, sheet, path)))
    except (zipfile.BadZipFile, KeyError, ET.ParseError, StopIteration) as err:
        raise UserError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})") from None
    rows = []
    for row in data.iterfind("m:sheetData/m:row", NS):
        values: dict[int, object] = {}
        for cell in row.iterfind("m:c", NS):
            values[column_index(cell.get("r"))] = _cell_value(cell, shared)
        rows.append([values.get(i) for i in range(max(values) + 1)] if values else [])
    if not rows or not rows[0]:
        raise UserError(f"{path}: sheet {sheet!r} is empty")
    header = [str(h) if h is not None else "" for h in rows[0]]
    body = [r + [None] * (len(header) - len(r)) for r in rows[1:] if any(v is not None for v in r)]
    return pd.DataFrame([r[: len(header)] for r in body], columns=header)


def _cell_xml(ref: str, value) -> str:
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def write_sheet(path: str | Path, sheet: str, frame: pd.DataFrame) -> None:
    """A one-sheet workbook (header row + values; inline strings), written atomically."""
    rows = [list(frame.columns)] + frame.astype(object).to_numpy().tolist()
    sheet_rows = []
    for r, values in enumerate(rows, start=1):
        cells = "".join(_cell_xml(f"{column_letters(c)}{r}", v) for c, v in enumerate(values) if v is not None)
        sheet_rows.append(f'<row r="{r}">{cells}</row>')
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<Relationships xmlns="{NS["pr"]}"><Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<workbook xmlns="{NS["m"]}" xmlns:r="{NS["r"]}"><sheets>'
            f'<sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<Relationships xmlns="{NS["pr"]}"><Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<worksheet xmlns="{NS["m"]}"><sheetData>{"".join(sheet_rows)}</sheetData></worksheet>'
        ),
    }
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed time: deterministic bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    write_bytes_atomic(path, buffer.getvalue())
