"""The episode as a FHIR R4 Bundle: valid, complete, self-referencing, and the scores intact."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from recovery import create_app
from recovery.care.accounts import issue_api_token
from recovery.care.models import Alert, PainEntry
from recovery.extensions import db
from recovery.interop.fhir import FhirSettings
from tests import factories

LOINC_PAIN = "72514-3"


def gen_api_token(clinic, email: str | None = None) -> str:
    """A staff member of `clinic` with an integration API token; returns the token."""
    user = factories.gen_staff(clinic, email=email)
    token = issue_api_token(user)
    db.session.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fhir_url(episode_id: int) -> str:
    return f"/api/v1/episodes/{episode_id}/fhir"


@pytest.fixture
def token(clinic):
    return gen_api_token(clinic)


@pytest.fixture
def course(clinic, now):
    """An episode with a baseline entry, a course of scores, red flags, notes and alerts."""
    enrolled = factories.gen_episode(
        clinic,
        procedure_dt=now - timedelta(days=3),
        baseline_pain=8,
        name="Maria Rossi",
        mrn="H123",
        phone="+44 7700 900123",
        email="maria@example.com",
        levels="T12, L1",
    )
    episode = enrolled.episode
    factories.gen_entry(episode, 8, -1)
    factories.gen_entry(episode, 5, 2, is_analgesic_taken=True)
    factories.gen_entry(episode, 4, 6, red_flags=["fever", "wound"], note="hot and red")
    factories.gen_entry(episode, 9, 26, note="worse again")
    factories.gen_entry(episode, 3, 50)
    alerts = db.session.scalars(db.select(Alert).filter_by(episode_id=episode.id)).all()
    assert len(alerts) >= 2  # the red flag and the 9/10 at 26 h
    red_flag = next(a for a in alerts if a.rule == "red_flag")
    red_flag.status = "resolved"
    red_flag.resolved_dt = red_flag.opened_dt + timedelta(hours=1)
    db.session.commit()
    return episode


def resources(body: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_validates_as_fhir_r4(client, course, token):
    response = client.get(fhir_url(course.id), headers=bearer(token))
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json(force=True)
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    # baseline + 5 entries; one Flag per alert
    alerts = db.session.scalar(
        db.select(db.func.count()).select_from(Alert).filter_by(episode_id=course.id)
    )
    assert kinds.count("Patient") == 1 and kinds.count("Procedure") == 1
    assert kinds.count("Observation") == 1 + 5
    assert kinds.count("Flag") == alerts


def test_observations_round_trip_scores_and_times(client, course, token):
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    bundle = Bundle.model_validate(body)
    observations = [
        e.resource
        for e in bundle.entry
        if e.resource.get_resource_type() == "Observation" and e.resource.effectiveDateTime
    ]
    exported = sorted((o.effectiveDateTime, o.valueInteger) for o in observations)
    stored = db.session.scalars(db.select(PainEntry).filter_by(episode_id=course.id)).all()
    assert exported == sorted((e.recorded_dt, e.pain) for e in stored)
    for observation in observations:
        assert observation.status == "final"
        assert observation.code.coding[0].system == "http://loinc.org"
        assert observation.code.coding[0].code == LOINC_PAIN
        assert observation.category[0].coding[0].code == "survey"
        assert 0 <= observation.valueInteger <= 10


def test_baseline_from_enrolment_is_an_observation_before_the_procedure(client, course, token):
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    baseline = [o for o in resources(body, "Observation") if "effectivePeriod" in o]
    assert len(baseline) == 1
    assert baseline[0]["valueInteger"] == 8
    assert baseline[0]["effectivePeriod"] == {
        "end": course.procedure_dt.isoformat().replace("+00:00", "Z")
    }


def test_red_flags_analgesic_and_note_are_kept(client, course, token):
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    by_score = {o["valueInteger"]: o for o in resources(body, "Observation") if "issued" in o}
    flagged = by_score[4]
    codes = {c["code"]["coding"][0]["code"]: c["valueBoolean"] for c in flagged["component"]}
    assert codes == {"fever": True, "wound": True, "analgesic-taken": False}
    assert flagged["note"] == [{"text": "hot and red"}]
    analgesic = by_score[5]["component"]
    assert [c["valueBoolean"] for c in analgesic] == [True]
    assert "note" not in by_score[3]


def test_patient_and_procedure(client, app, course, token):
    app.config["FHIR_MRN_SYSTEM"] = "https://hospital.example/mrn/{clinic}"
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    [patient] = resources(body, "Patient")
    assert patient["name"] == [{"text": "Maria Rossi"}]
    [identifier] = patient["identifier"]
    assert identifier["value"] == "H123"
    assert identifier["system"] == f"https://hospital.example/mrn/{course.clinic.slug}"
    assert identifier["type"]["coding"][0]["code"] == "MR"
    assert {(t["system"], t["value"]) for t in patient["telecom"]} == {
        ("phone", "+44 7700 900123"),
        ("email", "maria@example.com"),
    }
    [procedure] = resources(body, "Procedure")
    assert procedure["status"] == "completed"
    assert procedure["code"]["text"] == "Percutaneous vertebroplasty"
    assert procedure["bodySite"] == [{"text": "T12, L1"}]
    performed = Bundle.model_validate(body).entry[1].resource.performedDateTime
    assert performed == course.procedure_dt


def test_clinic_setting_overrides_the_mrn_system(client, course, token):
    course.clinic.settings = {**course.clinic.settings, "fhir_mrn_system": "urn:oid:1.2.3.4"}
    db.session.commit()
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    assert resources(body, "Patient")[0]["identifier"][0]["system"] == "urn:oid:1.2.3.4"


def test_flags_follow_the_alerts(client, course, token):
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    flags = {f["code"]["coding"][0]["code"]: f for f in resources(body, "Flag")}
    alerts = {
        a.rule: a for a in db.session.scalars(db.select(Alert).filter_by(episode_id=course.id))
    }
    assert set(flags) == set(alerts)
    red = flags["red_flag"]
    assert red["status"] == "inactive"
    assert red["period"]["end"] > red["period"]["start"]
    assert red["code"]["text"] == f"red_flag: {alerts['red_flag'].reason}"
    assert red["category"][0]["coding"][0]["code"] == "clinical"
    open_flags = [f for rule, f in flags.items() if rule != "red_flag"]
    assert open_flags and all(f["status"] == "active" for f in open_flags)
    assert all("end" not in f["period"] for f in open_flags)
    priority = red["extension"][0]["valueCodeableConcept"]
    assert priority["coding"][0]["code"] == "PH" and priority["text"] == "urgent"


def test_every_reference_resolves_inside_the_bundle(client, course, token):
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    full_urls = [e["fullUrl"] for e in body["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    assert all(u.startswith("urn:uuid:") for u in full_urls)
    assert all(e["resource"]["id"] == e["fullUrl"].removeprefix("urn:uuid:") for e in body["entry"])

    def references(node):
        if isinstance(node, dict):
            if "reference" in node:
                yield node["reference"]
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    found = list(references(body))
    assert len(found) > len(body["entry"])  # subjects, performers, flag details
    assert set(found) <= set(full_urls)


def test_full_urls_are_stable_between_exports(client, course, token):
    first = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    factories.gen_entry(course, 2, 60)
    second = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    before = [e["fullUrl"] for e in first["entry"]]
    after = [e["fullUrl"] for e in second["entry"]]
    assert set(before) < set(after)
    assert len(after) == len(before) + 1


def test_query_count_does_not_grow_with_entries(client, clinic, token, now, count_queries):
    counts = []
    for n in (2, 20):
        episode = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=30)).episode
        for i in range(n):
            factories.gen_entry(episode, 9 if i % 3 else 2, 5 + i * 30, red_flags=["fever"])
        url = fhir_url(episode.id)
        with count_queries() as q:
            body = client.get(url, headers=bearer(token)).get_json(force=True)
        assert len(resources(body, "Observation")) == 1 + n
        counts.append(q.count)
    assert counts[0] == counts[1]
    # token, episode with patient and clinic, entries, alerts, audit row
    assert counts[0] <= 5


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}],
    ids=["missing", "bad", "wrong-scheme"],
)
def test_refused_without_a_staff_token(client, course, headers):
    response = client.get(fhir_url(course.id), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] in {"unauthorized", "invalid_token"}


def test_patient_token_is_refused(client, clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
    response = client.get(fhir_url(enrolled.episode.id), headers=enrolled.headers)
    assert response.status_code == 401


def test_other_clinics_episode_is_not_found(client, course):
    other_token = gen_api_token(factories.gen_clinic(), email="other@example.test")
    response = client.get(fhir_url(course.id), headers=bearer(other_token))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "Maria" not in response.get_data(as_text=True)


def test_export_is_audited(client, course, token):
    from recovery.care.models import AuditEvent

    client.get(fhir_url(course.id), headers=bearer(token))
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="exported_fhir"))
    assert event is not None and event.episode_id == course.id and event.staff_id is not None


APP_CONFIG = {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
SNOMED = {"system": "http://snomed.info/sct", "code": "392010000", "display": "Vertebroplasty"}


def test_fhir_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FHIR_PROCEDURE_CODING", json.dumps([SNOMED]))
    monkeypatch.setenv("FHIR_ID_NAMESPACE", "12345678-1234-5678-1234-567812345678")
    monkeypatch.setenv("FHIR_MRN_SYSTEM", "urn:oid:1.2.3")
    app = create_app(APP_CONFIG)
    settings = FhirSettings.from_config(app.config)
    assert settings.procedure_coding == (SNOMED,)
    assert str(settings.id_namespace) == "12345678-1234-5678-1234-567812345678"
    assert settings.mrn_system == "urn:oid:1.2.3"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FHIR_PROCEDURE_CODING", "not json"),
        ("FHIR_PROCEDURE_CODING", '{"system": "x", "code": "y"}'),
        ("FHIR_PROCEDURE_CODING", '[{"system": "x"}]'),
        ("FHIR_PROCEDURE_CODING", '[{"system": "x", "code": 5}]'),
        ("FHIR_ID_NAMESPACE", "not-a-uuid"),
    ],
)
def test_a_malformed_fhir_setting_stops_the_app_with_its_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=name):
        create_app(APP_CONFIG)


def test_a_clinic_sets_its_own_mrn_system(client, runner, clinic, course, token):
    set_system = ["recovery", "settings", "--clinic", clinic.slug, "--fhir-mrn-system"]
    refused = runner.invoke(args=[*set_system, "not a uri"])
    assert refused.exit_code != 0 and "must be a URI" in refused.output
    result = runner.invoke(args=[*set_system, "urn:oid:2.16.840.1.113883.19.5"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fhir_mrn_system"] == "urn:oid:2.16.840.1.113883.19.5"
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    [patient] = resources(body, "Patient")
    assert patient["identifier"][0]["system"] == "urn:oid:2.16.840.1.113883.19.5"
    runner.invoke(args=[*set_system, ""])
    body = client.get(fhir_url(course.id), headers=bearer(token)).get_json(force=True)
    [patient] = resources(body, "Patient")
    assert patient["identifier"][0]["system"] == f"urn:recovery:clinic:{clinic.slug}:mrn"
