"""A patient checks in without a connection, on a phone-sized Chromium with touch: the answer
waits on the phone and reaches the server once when the connection returns (docs/offline.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from recovery.care.episodes import answer_key, record_pain_entry
from recovery.care.models import PainEntry
from recovery.extensions import db
from tests import factories

SAVED = "Saved on this phone. It will be sent when you are online."


def kept_on_the_phone(page) -> None:
    """Wait until the service worker controls the page and keeps a copy of it."""
    for _ in range(100):
        if page.evaluate(
            """async () => navigator.serviceWorker.controller !== null && !!(await
                (await caches.open('recovery-pages')).match(location.origin + location.pathname))"""
        ):
            return
        time.sleep(0.1)
    pytest.fail("the service worker did not keep the check-in page")


def entries() -> list[PainEntry]:
    db.session.rollback()  # see what the server committed
    return list(db.session.scalars(db.select(PainEntry).order_by(PainEntry.id)))


def status_lines(page) -> list[str] | None:
    try:
        return page.locator(".offline-status__line").all_inner_texts()
    except PlaywrightError:  # the page is being replaced (a form post, a redirect)
        return None


def wait_for_lines(page, expected: list[str]) -> None:
    for _ in range(100):
        if status_lines(page) == expected:
            return
        time.sleep(0.1)
    assert status_lines(page) == expected


@pytest.fixture
def enrolled(live_server):
    clinic = factories.gen_clinic(phone="+44 20 7946 0002")
    return factories.gen_episode(clinic, procedure_dt=datetime.now(UTC) - timedelta(hours=24))


def test_an_answer_made_offline_arrives_once_when_the_connection_returns(
    live_server, phone, enrolled
):
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    phone.context.set_offline(True)
    phone.locator("label[for=pain-6]").tap()
    before = datetime.now(UTC)
    phone.get_by_role("button", name="Submit").tap()
    after = datetime.now(UTC)
    wait_for_lines(phone, [SAVED])
    assert phone.locator("#offline-status").evaluate("e => e === document.activeElement")
    assert phone.locator("input[name=pain]:checked").count() == 0  # ready for a new answer
    time.sleep(1.5)  # the entry must carry the time of Submit, not of its arrival
    assert entries() == []

    phone.context.set_offline(False)
    wait_for_lines(phone, ["Sent. See what your answer means"])
    stored = entries()
    assert [(e.pain, e.source) for e in stored] == [(6, "patient")]
    assert before - timedelta(seconds=1) <= stored[0].recorded_dt <= after
    assert stored[0].received_dt - stored[0].recorded_dt >= timedelta(seconds=1)
    # The outbox is empty: the periodic retry and the next visit send nothing again.
    assert phone.evaluate("RecoveryOutbox.all().then(r => r.length)") == 0
    phone.get_by_role("link", name="See what your answer means").tap()
    phone.wait_for_url(f"**/p/{enrolled.token}/entries/{stored[0].id}")
    # Only the check-in page, the start page and static files are kept: no API answer, no
    # result page, no staff page.
    kept = phone.evaluate(
        """async () => (await Promise.all((await caches.keys()).map(async name =>
            (await (await caches.open(name)).keys()).map(r => new URL(r.url).pathname)))).flat()"""
    )
    assert f"/p/{enrolled.token}" in kept and "/p/" in kept
    others = [p for p in kept if p not in (f"/p/{enrolled.token}", "/p/")]
    assert others and all(p.startswith("/static/") for p in others), kept
    phone.go_back()
    assert phone.locator("h1").inner_text() == "How is your pain?"
    assert len(entries()) == 1
    assert phone.watch.problems == []


def test_the_link_opens_offline_and_two_answers_arrive_each_once(live_server, phone, enrolled):
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    phone.context.set_offline(True)
    response = phone.goto(f"{live_server.url}/p/{enrolled.token}")
    assert response.from_service_worker
    assert phone.locator("h1").inner_text() == "How is your pain?"
    for _ in range(2):  # the same answer twice: two check-ins, not one sent twice
        phone.locator("label[for=pain-4]").tap()
        phone.get_by_role("button", name="Submit").tap()
    wait_for_lines(phone, [SAVED, SAVED])
    phone.context.set_offline(False)
    sent = "Sent. See what your answer means"
    wait_for_lines(phone, [sent, sent])
    stored = entries()
    assert [e.pain for e in stored] == [4, 4]
    assert stored[0].idempotency_key != stored[1].idempotency_key
    phone.evaluate("window.dispatchEvent(new Event('online'))")  # one more try: nothing left
    time.sleep(0.5)
    assert len(entries()) == 2
    assert phone.watch.problems == []


def test_online_the_form_posts_as_before_with_the_worker_in_charge(live_server, phone, enrolled):
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    phone.get_by_role("button", name="Submit").tap()  # no score chosen: the server says so
    phone.wait_for_selector("#pain-error")
    assert phone.locator("#pain-error").inner_text() == "Please choose a number from 0 to 10."
    assert status_lines(phone) == []
    phone.locator("label[for=pain-2]").tap()
    phone.get_by_role("button", name="Submit").tap()
    phone.wait_for_url("**/entries/*")
    assert phone.locator("h1").inner_text() == "You are on track."
    assert [e.pain for e in entries()] == [2]
    assert phone.watch.problems == []


def test_offline_without_a_score_the_page_asks_for_one(live_server, phone, enrolled):
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    phone.context.set_offline(True)
    phone.get_by_role("button", name="Submit").tap()
    wait_for_lines(phone, ["Tap a number from 0 to 10 first, then Submit."])
    assert phone.evaluate("document.activeElement.name") == "pain"
    phone.locator("label[for=pain-1]").tap()
    phone.get_by_role("button", name="Submit").tap()
    wait_for_lines(phone, [SAVED])


def test_the_start_page_leads_to_the_link_kept_on_the_phone(live_server, phone, enrolled):
    phone.goto(f"{live_server.url}/p/")
    assert phone.locator("h1").inner_text() == "Open your personal link"
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    phone.goto(f"{live_server.url}/p/")  # what the home-screen icon opens
    assert phone.url == f"{live_server.url}/p/{enrolled.token}"
    assert phone.locator("h1").inner_text() == "How is your pain?"
    assert phone.watch.problems == []


def test_a_form_post_that_cannot_reach_the_server_is_kept(live_app, live_server, phone, enrolled):
    """The phone says it is online but the server cannot be reached: the service worker keeps
    the answer the form posted, and the page sends it when the server is back."""
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    phone.locator("label[for=pain-7]").tap()
    phone.get_by_label("I took pain medicine since my last check-in").check()
    phone.get_by_label("Anything else").fill("  Worse when I stand.\nBetter lying down.  ")
    port = live_server.server.server_port
    live_server.server.shutdown()
    live_server.server.server_close()
    before = datetime.now(UTC)
    phone.get_by_role("button", name="Submit").tap()
    wait_for_lines(phone, [SAVED])
    assert entries() == []
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    live_server.server = server
    live_server.thread = type(live_server.thread)(target=server.serve_forever, daemon=True)
    live_server.thread.start()
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    wait_for_lines(phone, ["Sent. See what your answer means"])
    stored = entries()
    assert [(e.pain, e.is_analgesic_taken) for e in stored] == [(7, True)]
    assert stored[0].note == "Worse when I stand.\r\nBetter lying down."
    assert stored[0].recorded_dt >= before - timedelta(seconds=1)


def test_a_form_post_that_arrived_is_not_sent_again(live_server, phone, enrolled):
    """The form's answer reached the server but its reply was lost: the phone's copy, sent
    later, is recognised by its key (the form's own) and not stored a second time."""
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    page_key = phone.locator("input[name=idempotency_key]").input_value()
    note = "Ça va mieux 👍\u00a0"
    record_pain_entry(
        enrolled.episode,
        pain=5,
        red_flags=["fever"],
        is_analgesic_taken=False,
        note=note,
        idempotency_key=answer_key(
            page_key, pain=5, red_flags=["fever"], is_analgesic_taken=False, note=note
        ),
    )
    db.session.commit()
    phone.context.set_offline(True)
    phone.locator("label[for=pain-5]").tap()
    phone.get_by_label("Fever").check()
    phone.get_by_label("Anything else").fill(note)
    phone.get_by_role("button", name="Submit").tap()
    wait_for_lines(phone, [SAVED])
    phone.context.set_offline(False)
    wait_for_lines(phone, ["Sent. See what your answer means"])
    stored = entries()
    assert len(stored) == 1
    link = phone.get_by_role("link", name="See what your answer means")
    assert link.get_attribute("href").endswith(f"/entries/{stored[0].id}")


@pytest.mark.parametrize(
    "note",
    ["", "plain", "  spaced\u3000", "line\nbreak", 'Ça va "bien" \\ 😀', "\x1ctab\t\u0085"],
)
def test_the_phone_computes_the_servers_key_for_a_form_answer(live_server, phone, enrolled, note):
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    answer = {"pain": 3, "red_flags": ["leg_weakness", "fever", "fever"], "analgesic": True}
    script = """([note, answer]) => {
        const fields = new FormData();
        fields.append('pain', String(answer.pain));
        answer.red_flags.forEach(f => fields.append('red_flags', f));
        fields.append('analgesic', 'y');
        fields.append('note', note);
        return RecoveryOutbox.answerKey('page-key', RecoveryOutbox.answerFromForm(fields));
    }"""
    form_note = note.replace("\r\n", "\n").replace("\n", "\r\n")  # as a form sends it
    expected = answer_key(
        "page-key",
        pain=3,
        red_flags=["leg_weakness", "fever", "fever"],
        is_analgesic_taken=True,
        note=form_note,
    )
    assert phone.evaluate(script, [note, answer]) == expected


def test_an_answer_the_server_refuses_for_good_is_not_dropped_silently(
    live_server, phone, enrolled
):
    phone.goto(f"{live_server.url}/p/{enrolled.token}")
    kept_on_the_phone(phone)
    phone.context.set_offline(True)
    phone.locator("label[for=pain-8]").tap()
    phone.get_by_role("button", name="Submit").tap()
    wait_for_lines(phone, [SAVED])
    # The link stops working while the answer waits (the follow-up closed, the link revoked).
    from recovery.care.episodes import close_episode

    close_episode(enrolled.episode, staff=factories.gen_staff(enrolled.episode.clinic))
    db.session.commit()
    phone.context.set_offline(False)
    wait_for_lines(
        phone,
        [
            "Your answer (pain 8 out of 10) could not be sent. Please call the clinic and tell "
            "them.\nCall the clinic: +44 20 7946 0002"
        ],
    )
    call = phone.locator("#offline-status").get_by_role(
        "link", name="Call the clinic: +44 20 7946 0002"
    )
    assert call.get_attribute("href") == "tel:+44 20 7946 0002"
    box = call.bounding_box()
    assert box["height"] >= 44
    phone.set_viewport_size({"width": 320, "height": 568})  # a small phone: nothing runs off
    assert phone.evaluate("document.documentElement.scrollWidth") <= 320
    assert phone.evaluate("RecoveryOutbox.all().then(r => r.length)") == 0
    assert entries() == []
