"""The invalid-record corpus (tests/corpus/invalid): every case gets its documented reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from metrics.contract.events import FAMILIES
from metrics.contract.validation import REASONS, Rejection, validate

CORPUS_DIR = Path(__file__).parent / "corpus" / "invalid"
KEYS = {
    "tickets": b"T-bad",
    "surveys": b"T-bad",
    "calls": b"C-bad",
    "customers": b"K-bad",
    "agents": b"A-bad",
}


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    reason: str
    key: bytes
    value: bytes


def _load() -> list[Case]:
    cases = []
    for path in sorted(CORPUS_DIR.iterdir()):
        if path.name == "README.md":
            continue
        family, reason, _ = path.name.split(".", 2)
        cases.append(Case(path.name, family, reason, KEYS[family], path.read_bytes()))
    return cases


CORPUS = _load()


def test_corpus_covers_every_reason_but_the_catch_all():
    assert {c.reason for c in CORPUS} == REASONS - {"invalid"}
    assert {c.family for c in CORPUS} == set(FAMILIES)


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_each_case_is_rejected_for_its_reason(case):
    result = validate(case.value, case.key, FAMILIES[case.family])
    assert isinstance(result, Rejection)
    assert result.reason == case.reason, result.detail
