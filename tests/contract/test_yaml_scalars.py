"""YAML scalars that are not JSON (issue 12 item 2): served as Prism serves them, never a 500."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from authsvc.contract import load_contract
from authsvc.contract.documents import iso_utc, parse_document
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.pipeline import MockEngine

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


def test_mock__serves_dates_timestamps_and_binary_as_json_strings() -> None:
    engine = MockEngine(load_contract(CONTRACTS / "loader-yaml-scalars.yaml"))
    response = engine.handle(MockRequest.build("GET", "/album"))
    assert response.status == 200
    assert response.json() == {
        # JSON.stringify(new Date(...)) for what js-yaml reads, as Prism serves it
        "release_date": "1981-12-15T00:00:00.000Z",
        "updated": "2001-12-15T02:59:43.100Z",
        "cover": "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=",
    }
    assert response.header("sl-violations") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2002-12-14", "2002-12-14T00:00:00.000Z"),
        ("2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.100Z"),
        ("2001-12-15T02:59:43.1Z", "2001-12-15T02:59:43.100Z"),
        ("2001-12-14 21:59:43.123456", "2001-12-14T21:59:43.123Z"),  # no offset: read as UTC
        ("'2002-12-14'", "2002-12-14"),  # quoted: a string already
    ],
    ids=["date", "offset", "utc", "naive", "quoted"],
)
def test_parse_document__timestamps_as_javascript_iso_strings(text: str, expected: str) -> None:
    assert parse_document(f"when: {text}\n") == {"when": expected}


def test_iso_utc__matches_javascript_to_iso_string() -> None:
    moment = datetime.datetime(1999, 1, 2, 3, 4, 5, 678900, tzinfo=datetime.UTC)
    assert iso_utc(moment) == "1999-01-02T03:04:05.678Z"
    assert iso_utc(datetime.date(1981, 12, 15)) == "1981-12-15T00:00:00.000Z"
