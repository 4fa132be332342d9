"""Schemathesis against /api/v1/openapi.json: every operation, with data generated from the
document, answers without a server error and as the document says it does.

The app fixture runs this on SQLite and PostgreSQL. Each operation is sent generated requests
(valid ones and ones the document forbids) with a real token of the kind its `security` names:
a staff API token for the integration endpoints, a patient link's token for the patient's.
Schemathesis's own checks judge each answer: no 5xx, a documented status, the documented
content type and headers, a body matching the response's schema, refusals for what the
document forbids. Hypothesis runs derandomized with a small, fixed number of examples and no
example database, so the run is the same every time and writes nothing outside the database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from recovery.api.openapi import openapi_document
from recovery.care.accounts import issue_api_token
from recovery.care.models import Alert
from recovery.clinical.vocabulary import RedFlag
from recovery.extensions import db
from tests import factories

#: (path, method, generation mode): every operation with valid data, and with data the
#: document forbids where it takes any input (parameters or a body) to get wrong.
CASES = [
    pytest.param(path, method.upper(), mode, id=f"{method.upper()} {path} {mode.value}")
    for path, methods in openapi_document()["paths"].items()
    for method, operation in methods.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or operation.get("parameters") or "requestBody" in operation
]
#: Every check but one: `positive_data_acceptance` expects any request the schemas allow to
#: succeed, but the document also declares refusals that depend on values together or on
#: the server's state, which a schema cannot express: a date range the wrong way round or
#: too long (400 `invalid_range`, `range_too_long`), a `recorded_at` before the procedure
#: (422 `too_early`), a cursor the server did not make (400 `invalid_cursor`).
EXCLUDED_CHECKS = [positive_data_acceptance]
#: Examples per operation and mode: enough to reach every parameter's edges, small enough for
#: the whole module to stay well under a minute per engine.
EXAMPLES = 12


@pytest.fixture
def tokens(app, now) -> dict[str, str]:
    """A clinic with an episode, entries and an alert; the staff API token and patient token
    that open it, by the name of the document's security scheme."""
    clinic = factories.gen_clinic()
    admin = factories.gen_staff(clinic, role="admin")
    staff_token = issue_api_token(admin)
    db.session.commit()
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    factories.gen_entry(enrolled.episode, 5, 6, note="settling")
    factories.gen_entry(enrolled.episode, 9, 24, red_flags=[RedFlag.codes()[0]])
    assert db.session.scalar(db.select(db.func.count()).select_from(Alert))
    return {"staffToken": staff_token, "patientToken": enrolled.token}


@pytest.mark.parametrize("path,method,mode", CASES)
def test_operation_conforms(app, tokens, path, method, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]
    security = operation.definition.raw.get("security") or [{}]
    schemes = [name for requirement in security for name in requirement]
    # Schemathesis's WSGI transport does not undo a Content-Encoding (tests/test_compression.py
    # covers the app's compression), so the answers come uncompressed.
    headers = {"Accept-Encoding": "identity"}
    if schemes:
        headers["Authorization"] = f"Bearer {tokens[schemes[0]]}"

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)
        statuses.add(response.status_code)
        db.session.rollback()  # the test's own transaction sees what the request committed

    statuses: set[int] = set()
    check()
    if mode is GenerationMode.POSITIVE:
        # The token opened the operation at least once: the checks saw real answers.
        assert any(s < 300 for s in statuses), statuses
