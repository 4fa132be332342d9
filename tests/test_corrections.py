"""Entry corrections: an entry is never deleted; staff correct one with a new entry that
supersedes it, with a reason. Both stay visible (the episode page, CSV, FHIR, the API); the
rules, the chart, the summary and the worklist use only the entries in force."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy.exc import IntegrityError

from recovery.care.accounts import issue_api_token
from recovery.care.episodes import EntryError, correct_pain_entry, episode_entries
from recovery.care.models import Alert, AuditEvent, Episode, PainEntry
from recovery.extensions import db
from tests import factories
from tests.test_concurrency import at_once, two_signed_in_nurses


@pytest.fixture
def feverish(clinic, now):
    """An episode 30 h in whose 29 h entry (3/10) reported a fever: a red-flag alert."""
    enrolled = factories.gen_episode(
        clinic, name="Fay Fever", procedure_dt=now - timedelta(hours=30)
    )
    entry = factories.gen_entry(enrolled.episode, 3, 29, red_flags=["fever"]).entry
    return enrolled.episode, entry


def correct(client, episode: Episode, entry: PainEntry, **data):
    form = {f"correct-{entry.id}-{key}": value for key, value in data.items()}
    return client.post(f"/staff/episodes/{episode.id}/entries/{entry.id}/correct", data=form)


def entries_of(episode_id: int) -> list[PainEntry]:
    db.session.rollback()
    return db.session.scalars(
        db.select(PainEntry).filter_by(episode_id=episode_id).order_by(PainEntry.id)
    ).all()


def test_a_nurse_corrects_an_entry_and_both_stay_visible(client, auth, nurse, feverish):
    episode, entry = feverish
    auth.login()
    response = correct(client, episode, entry, pain="7", reason="she said 7, not 3")
    assert response.status_code == 302
    old, new = entries_of(episode.id)
    assert old.id == entry.id and old.pain == 3 and old.supersedes_id is None
    assert (new.pain, new.supersedes_id, new.correction_reason) == (7, old.id, "she said 7, not 3")
    assert (new.recorded_dt, new.source, new.recorded_by_id) == (old.recorded_dt, "staff", nurse.id)
    [audited] = db.session.scalars(
        db.select(AuditEvent).filter_by(episode_id=episode.id, action="entry_corrected")
    ).all()
    assert audited.staff_id == nurse.id
    assert audited.detail == (
        f"entry {old.id}: 3/10, red flags: fever -> 7/10; reason: she said 7, not 3"
    )
    html = client.get(f"/staff/episodes/{episode.id}").get_data(as_text=True)
    old_row = re.search(
        rf'<tr class="entry--corrected">((?:(?!</tr>).)*id="entry-{old.id}".*?)</tr>', html, re.S
    )
    assert old_row, "the corrected entry stays, marked"
    assert "<s>3/10</s>" in old_row.group(1)
    assert f"Corrected by {nurse.email}" in old_row.group(
        1
    ) and "she said 7, not 3" in old_row.group(1)
    # A corrected entry is not corrected again.
    assert f"/entries/{old.id}/correct" not in old_row.group(1)
    new_row = re.search(rf'<tr>((?:(?!</tr>).)*id="entry-{new.id}".*?)</tr>', html, re.S).group(1)
    assert "7/10" in new_row and "Correction of 3/10: she said 7, not 3" in new_row
    assert f"/entries/{new.id}/correct" in new_row
    assert "corrected an entry" in html  # the timeline
    # The chart and the summary hold the entry in force only.
    figure = json.loads(re.search(r'id="episode-chart-data">(.*?)</script>', html, re.S).group(1))
    observed = next(t for t in figure["data"] if t["uid"] == "observed")
    assert observed["y"] == [7]
    db.session.refresh(episode)
    assert episode.last_pain == 7
    assert [e.id for e in episode_entries(episode)] == [new.id]


def test_rules_use_the_corrected_value(client, auth, nurse, feverish):
    """A red flag corrected to none: the alert the entry raised stays for staff to resolve,
    and nothing new is opened from the corrected entry; a score corrected upwards is assessed
    as a new staff entry is, and opens what it should."""
    episode, entry = feverish
    auth.login()
    assert correct(client, episode, entry, pain="3", reason="no fever after all").status_code == 302
    db.session.rollback()
    alerts = db.session.scalars(db.select(Alert).filter_by(episode_id=episode.id)).all()
    assert [(a.rule, a.status) for a in alerts] == [("red_flag", "open")]
    [_old, corrected] = entries_of(episode.id)
    # A later high score is assessed against the entries in force: the fever is not repeated.
    later = factories.gen_entry(db.session.get(Episode, episode.id), 3, 29.5)
    assert not any(f.rule == "red_flag" for f in later.assessment.findings)
    # Correcting the correction upwards opens the alert a 9/10 at 29 h opens.
    response = correct(client, episode, corrected, pain="9", reason="typed 3 for 9")
    assert response.status_code == 302
    db.session.rollback()
    rules = db.session.scalars(
        db.select(Alert.rule).filter_by(episode_id=episode.id, status="open")
    ).all()
    assert "above_expected" in rules
    above = db.session.scalar(
        db.select(Alert).filter_by(episode_id=episode.id, rule="above_expected")
    )
    assert above.entry.supersedes_id == corrected.id


def test_correcting_a_corrected_entry_is_refused(client, auth, nurse, feverish):
    episode, entry = feverish
    auth.login()
    assert correct(client, episode, entry, pain="4", reason="first").status_code == 302
    response = correct(client, episode, entry, pain="5", reason="second")
    assert response.status_code == 400
    assert "had already been corrected" in response.get_data(as_text=True)
    assert [e.pain for e in entries_of(episode.id)] == [3, 4]
    with pytest.raises(EntryError) as refused:
        correct_pain_entry(
            db.session.get(PainEntry, entry.id), pain=6, reason="service", staff=nurse
        )
    assert refused.value.code == "already_corrected"
    db.session.rollback()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"pain": "4", "reason": ""}, "reason"),
        ({"pain": "4", "reason": "   "}, "reason"),
        ({"pain": "4", "reason": "r" * 1001}, "reason"),
        ({"pain": "4", "reason": "a\x00b"}, "reason"),
        ({"pain": "11", "reason": "typo"}, "pain"),
        ({"pain": "x", "reason": "typo"}, "pain"),
        ({"reason": "typo"}, "pain"),
        ({"pain": "4", "reason": "typo", "red_flags": "bogus"}, "red_flags"),
        ({"pain": "4", "reason": "typo", "note": "n" * 1001}, "note"),
    ],
)
def test_a_bad_correction_is_a_400_with_nothing_stored(client, auth, nurse, feverish, data, field):
    episode, entry = feverish
    auth.login()
    before = db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))
    response = correct(client, episode, entry, **data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The correction was not recorded" in html
    assert f'id="correct-{entry.id}-{field}' in html  # the correction page, with its error
    assert [e.id for e in entries_of(episode.id)] == [entry.id]
    # A refused correction records nothing, not even in the audit trail.
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == before


def test_corrections_need_the_clinic_and_an_active_follow_up(client, auth, nurse, feverish):
    episode, entry = feverish
    auth.login()
    other = factories.gen_episode(factories.gen_clinic(), name="Elsewhere").episode
    other_entry = factories.gen_entry(other, 5, 10).entry
    assert correct(client, other, other_entry, pain="1", reason="x").status_code == 404
    # An entry of another episode through this episode's address.
    assert correct(client, episode, other_entry, pain="1", reason="x").status_code == 404
    url = f"/staff/episodes/{episode.id}/entries/999999999999/correct"
    assert client.post(url).status_code == 404
    client.post(f"/staff/episodes/{episode.id}/close")
    response = correct(client, episode, entry, pain="1", reason="x")
    assert response.status_code == 400
    assert "This follow-up is closed; its entries cannot be corrected." in response.get_data(
        as_text=True
    )
    page = client.get(f"/staff/episodes/{episode.id}").get_data(as_text=True)
    assert f"/entries/{entry.id}/correct" not in page
    assert client.get(f"/staff/episodes/{episode.id}/entries/{entry.id}/correct").status_code == 400
    assert len(entries_of(episode.id)) == 1
    auth.logout()
    response = correct(client, episode, entry, pain="1", reason="x")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_exports_and_the_api_show_both_entries(client, auth, nurse, feverish):
    episode, entry = feverish
    token = issue_api_token(nurse)
    db.session.commit()
    auth.login()
    assert correct(client, episode, entry, pain="2", reason="=cmd|' /C calc'!A0").status_code == 302
    old, new = entries_of(episode.id)
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/staff/episodes/{episode.id}/entries.csv").get_data(as_text=True),
                newline="",
            )
        )
    )
    by_id = {int(r["entry_id"]): r for r in rows}
    assert set(by_id) == {old.id, new.id}
    assert (by_id[old.id]["corrected_by_entry_id"], by_id[old.id]["corrects_entry_id"]) == (
        str(new.id),
        "",
    )
    assert by_id[new.id]["corrects_entry_id"] == str(old.id)
    assert by_id[new.id]["correction_reason"] == "'=cmd|' /C calc'!A0"  # guarded
    bundle = client.get(
        f"/api/v1/episodes/{episode.id}/fhir", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    observations = {
        e["resource"]["valueInteger"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and "effectiveDateTime" in e["resource"]
    }
    assert observations[3]["status"] == "entered-in-error"
    assert observations[2]["status"] == "corrected"
    new_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is observations[2])
    assert any(new_url in note["text"] for note in observations[3]["note"])
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    # The patient's API lists both, each saying what it corrects or what corrected it.
    api = client.get(
        "/api/v1/episode", headers={"Authorization": f"Bearer {factories_token(episode)}"}
    )
    assert api.status_code == 200
    entries = {e["id"]: e for e in api.get_json()["entries"]}
    assert (entries[old.id]["corrected_by"], entries[old.id]["corrects"]) == (new.id, None)
    assert (entries[new.id]["corrected_by"], entries[new.id]["corrects"]) == (None, old.id)


def factories_token(episode: Episode) -> str:
    """A new live link for `episode` (its token)."""
    from recovery.care.episodes import issue_link

    token = issue_link(db.session.get(Episode, episode.id))
    db.session.commit()
    return token


def test_the_worklist_and_cohort_use_the_entries_in_force(client, auth, nurse, clinic, now):
    enrolled = factories.gen_episode(
        clinic, name="Wanda Work", procedure_dt=now - timedelta(hours=30)
    )
    entry = factories.gen_entry(enrolled.episode, 9, 29).entry
    auth.login()
    assert correct(client, enrolled.episode, entry, pain="1", reason="meant 1").status_code == 302
    db.session.rollback()
    episode = db.session.get(Episode, enrolled.episode.id)
    assert episode.last_pain == 1
    worklist = client.get("/staff/", query_string={"q": "Wanda"}).get_data(as_text=True)
    assert "1/10" in worklist and "9/10" not in worklist.split("Wanda Work", 1)[1][:400]


def test_no_pain_entry_is_ever_deleted():
    """No code path deletes a pain entry: corrections supersede."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "recovery"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert not re.search(
            r"delete\(\s*PainEntry|PainEntry.*\.delete\(|DELETE FROM pain_entry", text
        ), path


def test_two_nurses_correcting_one_entry_at_once_exactly_one_wins(app, client, clinic, now):
    """Two sessions correct the same entry at the same moment: one correction is stored, the
    other nurse is told (400) that it had been corrected already."""
    _first, _second, _token, nurses = two_signed_in_nurses(app, clinic)
    for attempt in range(4):
        enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(hours=30))
        entry = factories.gen_entry(enrolled.episode, 5, 29).entry
        url = f"/staff/episodes/{enrolled.episode.id}/entries/{entry.id}/correct"
        answers = at_once(
            app,
            *(
                partial(
                    nurse.post,
                    url,
                    data={
                        f"correct-{entry.id}-pain": str(i + 1),
                        f"correct-{entry.id}-reason": f"r{i}",
                    },
                )
                for i, nurse in enumerate(nurses)
            ),
        )
        assert sorted(r.status_code for r in answers) == [302, 400], attempt
        refused = next(r for r in answers if r.status_code == 400)
        assert "had already been corrected" in refused.get_data(as_text=True)
        corrections = [e for e in entries_of(enrolled.episode.id) if e.supersedes_id == entry.id]
        assert len(corrections) == 1, attempt
        audited = db.session.scalar(
            db.select(db.func.count())
            .select_from(AuditEvent)
            .filter_by(episode_id=enrolled.episode.id, action="entry_corrected")
        )
        assert audited == 1


def test_the_database_refuses_a_second_correction_of_one_entry(feverish, nurse):
    """The unique index on supersedes_id: even a writer that skipped the service's check."""
    episode, entry = feverish
    for reason in ("one", "two"):
        db.session.add(
            PainEntry(
                episode_id=episode.id,
                pain=1,
                recorded_dt=entry.recorded_dt,
                supersedes_id=entry.id,
                correction_reason=reason,
                source="staff",
            )
        )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_correction_page_shows_the_entry_and_its_form(client, auth, nurse, feverish):
    episode, entry = feverish
    auth.login()
    page = client.get(f"/staff/episodes/{episode.id}/entries/{entry.id}/correct")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "The entry as it stands" in html and "3/10" in html
    assert f'name="correct-{entry.id}-reason"' in html
    assert '<option selected value="3">' in html or 'value="3" selected' in html
    assert correct(client, episode, entry, pain="4", reason="first").status_code == 302
    again = client.get(f"/staff/episodes/{episode.id}/entries/{entry.id}/correct")
    assert again.status_code == 400
    assert "already been corrected" in again.get_data(as_text=True)
