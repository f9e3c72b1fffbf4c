"""A download that explains itself: the view's CSV plus a Frictionless Data Package descriptor (``datapackage.json``).

The descriptor says what each column means and holds (its Table Schema: type, title, description, the codes it
admits), the licence and the OGL attributions the sources' ``SOURCES.md`` files ask for, which view and evidence
choice the rows are, and which atlas build they come from, so a file found on a disk months later can be read
and cited without the page. The page's "Download data (ZIP)" (``/export.zip``) and
``python -m geodata export-csv FILE --datapackage DIR`` write the same two files from :func:`csv_text` and
:func:`descriptor`.

Specification: https://specs.frictionlessdata.io/data-package/ (the ``frictionless`` package validates it in
``tests/test_datapackage.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd

from geodata.csv_safe import safe_frame
from geodata.table_export import SET_ASIDE, SET_ASIDE_LABEL, SHARE_COLUMNS, STATUS_LABEL, columns
from geodata.vocabulary import CLAIM_LABEL, EVIDENCE_LABEL, LEVEL_LABEL, LEVEL_ORDER

DESCRIPTOR = "datapackage.json"
#: The licence of every source file (``../shared/README.md``: all Open Government Licence v3.0).
LICENCE = {"name": "OGL-UK-3.0", "title": "Open Government Licence v3.0",
           "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"}


def csv_text(frame: pd.DataFrame) -> str:
    """The CSV of a download: header of column names, no index, no cell a spreadsheet would run as a formula."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\n")


def _slots(frame: pd.DataFrame) -> int:
    return sum(1 for c in frame.columns if re.fullmatch(r"source_2015_\d+_title", c))


def schema(frame: pd.DataFrame) -> dict[str, object]:
    """The Table Schema of a download frame: every column described, in file order."""
    fields = []
    for col in columns(_slots(frame), shares=SHARE_COLUMNS[0] in frame.columns):
        f: dict[str, object] = {"name": col.name, "type": col.type, "title": col.title,
                                "description": col.description}
        constraints = dict(col.extra.get("constraints", {}))  # type: ignore[call-overload]
        if col.enum:
            constraints["enum"] = list(col.enum)
        if constraints:
            f["constraints"] = constraints
        f.update({k: v for k, v in col.extra.items() if k != "constraints"})
        fields.append(f)
    names = [f["name"] for f in fields]
    if names != list(frame.columns):
        raise ValueError(f"download columns {list(frame.columns)} differ from their description {names}")
    return {"fields": fields, "primaryKey": ["ccg_code"], "missingValues": [""]}


def vocabularies() -> dict[str, dict[str, str]]:
    """Each code list of the file with what each code means: levels (codes beside the page's words), claims, level
    statuses and evidence choices; the same words the column descriptions use."""
    return {
        "level": {code: LEVEL_LABEL[code] for code in LEVEL_ORDER},
        "level_words_set_aside": {SET_ASIDE: SET_ASIDE_LABEL},
        "claim": dict(CLAIM_LABEL),
        "level_status": dict(STATUS_LABEL),
        "evidence_choice": dict(EVIDENCE_LABEL),
    }


def package_name(csv_name: str) -> str:
    """A descriptor ``name`` (lower case, digits, '-', '.', '_') from the CSV's file name."""
    return re.sub(r"[^a-z0-9._-]+", "-", Path(csv_name).stem.lower()).strip("-") or "ccg-cocommissioning"


def descriptor(frame: pd.DataFrame, csv_name: str, data: bytes, *, build_id: str, built_at: str,
               attributions: list[str], view: dict[str, object]) -> dict[str, object]:
    """The ``datapackage.json`` of ``frame`` written as ``data`` (its CSV bytes) to ``csv_name``.

    ``view`` says what the rows are: at least ``evidence`` and ``description`` (the page adds its URL query,
    year, filters and selection; the command line says it wrote every CCG).
    """
    evidence = str(view["evidence"])
    name = package_name(csv_name)
    return {
        "name": name,
        "title": (f"CCG primary care co-commissioning levels 2015/16 and 2016/17: {view['description']} "
                  f"(evidence: {EVIDENCE_LABEL[evidence].lower()})"),
        "description": (
            "One row per Clinical Commissioning Group (CCG) of England: its codes, NHS England area team and region, "
            "deprivation and population, and its primary care co-commissioning level in 2015/16 and 2016/17 with "
            "the claim and the sources behind it. Levels are given as codes and in words; under the evidence "
            f"choice '{evidence}' ({EVIDENCE_LABEL[evidence]}) a level resting on a weaker claim is set aside "
            "(status set_aside), which is not the same as no source found (status no_source). Each column is "
            "described in the schema below."),
        "licenses": [LICENCE],
        "sources": [{"title": line} for line in attributions],
        "attributions": list(attributions),
        "keywords": ["NHS", "CCG", "primary care co-commissioning", "England"],
        "vocabularies": vocabularies(),
        "atlas": {"build_id": build_id, "built_at": built_at},
        "view": {**view, "evidence_label": EVIDENCE_LABEL[evidence], "rows": int(len(frame))},
        "resources": [{
            "name": name,
            "path": csv_name,
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "bytes": len(data),
            "hash": hashlib.md5(data).hexdigest(),  # the spec's default hash (md5 hex), a check, not security
            "dialect": {"delimiter": ",", "quoteChar": '"', "header": True},
            "licenses": [LICENCE],
            "schema": schema(frame),
        }],
    }


def _bytes_and_descriptor(frame: pd.DataFrame, csv_name: str, **meta: object) -> tuple[bytes, str]:
    data = csv_text(frame).encode("utf-8")
    desc = descriptor(frame, csv_name, data, **meta)  # type: ignore[arg-type]
    return data, json.dumps(desc, indent=2, ensure_ascii=False) + "\n"


def write_package(frame: pd.DataFrame, directory: str | Path, csv_name: str, **meta: object) -> tuple[Path, Path]:
    """Write ``csv_name`` and ``datapackage.json`` beside it into ``directory`` (made if missing)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    data, desc = _bytes_and_descriptor(frame, csv_name, **meta)
    csv_path, desc_path = folder / csv_name, folder / DESCRIPTOR
    csv_path.write_bytes(data)
    desc_path.write_text(desc, encoding="utf-8")
    return csv_path, desc_path


def zip_bytes(frame: pd.DataFrame, csv_name: str, **meta: object) -> bytes:
    """The ZIP the page offers: the CSV and ``datapackage.json``, dated by the atlas build (same view, same bytes)."""
    data, desc = _bytes_and_descriptor(frame, csv_name, **meta)
    when = _zip_time(str(meta.get("built_at", "")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, content in ((csv_name, data), (DESCRIPTOR, desc.encode("utf-8"))):
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, content)
    return buf.getvalue()


def _zip_time(built_at: str) -> tuple[int, int, int, int, int, int]:
    try:
        t = datetime.fromisoformat(built_at)
    except ValueError:
        return (1980, 1, 1, 0, 0, 0)
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)
