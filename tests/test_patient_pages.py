"""What the patient's pages say about time: which check-in this is, when the next one is, in
the clinic's time zone and in words; the printable handout; the clinic's phone everywhere."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from recovery.care.episodes import close_episode
from recovery.extensions import db
from tests import factories

# 03:00 in New York (UTC-5 in December): the clinic's clock, not the server's, names the days.
PROCEDURE = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PHONE = "+1 212 555 0100"


@pytest.fixture
def episode_ny(app):
    clinic = factories.gen_clinic(timezone="America/New_York", phone=PHONE)
    return factories.gen_episode(clinic, procedure_dt=PROCEDURE)


def text_of(html: str, css_class: str) -> str:
    match = re.search(rf'<p class="{css_class}">(.*?)</p>', html, re.S)
    assert match, f"no .{css_class} on the page"
    return re.sub(r"\s+", " ", match.group(1)).strip()


def page_at(client, url: str, hours: float) -> str:
    with time_machine.travel(PROCEDURE + timedelta(hours=hours), tick=False):
        response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("hours", "this_checkin", "following"),
    [
        # Before the 2 h window opens (1 h): nothing due; the next is later today.
        (
            0.5,
            "No check-in is due right now. You can still tell us how you are at any time.",
            "Your next check-in: between 04:00 and 07:00 today.",
        ),
        # Inside the 2 h window (1-4 h): its number, and the 6 h window after it.
        (
            1.0,
            "This is check-in 1 of 8: about 2 hours after your procedure.",
            "After this one, your next check-in: between 07:00 and 15:00 today.",
        ),
        # Between the 6 h (to 12 h) and 24 h (from 18 h) windows; the next spans midnight.
        (
            13.0,
            "No check-in is due right now. You can still tell us how you are at any time.",
            "Your next check-in: between 21:00 today and 09:00 tomorrow.",
        ),
        # The last hour of the 24 h window (18-30 h).
        (
            30.0,
            "This is check-in 3 of 8: about 1 day after your procedure.",
            "After this one, your next check-in: between 15:00 today and 15:00 tomorrow.",
        ),
    ],
)
def test_the_check_in_page_says_which_check_in_this_is(
    client, episode_ny, hours, this_checkin, following
):
    html = page_at(client, f"/p/{episode_ny.token}", hours)
    assert text_of(html, "checkin-intro") == this_checkin
    assert following in html


def test_a_check_in_already_done_is_said_so(client, episode_ny):
    factories.gen_entry(episode_ny.episode, 4, 20)
    html = page_at(client, f"/p/{episode_ny.token}", 24)
    assert text_of(html, "checkin-intro") == (
        "You have already done check-in 3 of 8. If your pain has changed, you can tell us again."
    )
    assert "Your next check-in: between 15:00 today and 15:00 tomorrow." in html


def test_the_result_page_starts_with_what_to_do_and_the_next_check_in(client, episode_ny):
    with time_machine.travel(PROCEDURE + timedelta(hours=24), tick=False):
        form = client.get(f"/p/{episode_ny.token}").get_data(as_text=True)
        key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', form).group(1)
        posted = client.post(f"/p/{episode_ny.token}", data={"pain": "3", "idempotency_key": key})
        html = client.get(posted.headers["Location"]).get_data(as_text=True)
    headline, next_checkin, chart = (
        html.index("<h1"),
        html.index('class="next-checkin"'),
        html.index('class="pchart"'),
    )
    assert headline < next_checkin < chart
    # The 48 h window: 36-60 h after a procedure at 03:00, New York time.
    assert text_of(html, "next-checkin") == (
        "Your next check-in: between 15:00 today and 15:00 tomorrow."
    )
    assert "You reported 3 out of 10, about 1 day after your procedure." in html
    assert "h after" not in html  # times in words, never "24 h"


def test_an_entry_sent_late_is_told_the_window_open_now(client, episode_ny):
    """An answer kept on the phone and sent later: the next window may be open already."""
    recorded = (PROCEDURE + timedelta(hours=13)).isoformat()
    with time_machine.travel(PROCEDURE + timedelta(hours=20), tick=False):
        response = client.post(
            "/api/v1/checkins",
            json={"pain": 4, "recorded_at": recorded, "idempotency_key": "late-1"},
            headers={"Authorization": f"Bearer {episode_ny.token}"},
        )
    assert response.status_code == 201
    assert response.json["result"]["next_checkin"] == (
        "Your next check-in: now, until 09:00 tomorrow."
    )


def test_the_last_check_in_says_there_are_no_more(client, episode_ny):
    html = page_at(client, f"/p/{episode_ny.token}", 24 * 105)
    assert text_of(html, "checkin-intro").startswith("No check-in is due right now.")
    assert "Your next check-in" not in html


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        (0.5, "less than an hour after your procedure"),
        (1.0, "about 1 hour after your procedure"),
        (23.4, "about 23 hours after your procedure"),
        (23.5, "about 1 day after your procedure"),
        (35.9, "about 1 day after your procedure"),
        (36.0, "about 2 days after your procedure"),
        (7 * 24, "about 1 week after your procedure"),  # the check-in's own name
        (10 * 24, "about 10 days after your procedure"),
        (13 * 24 + 11.9, "about 13 days after your procedure"),
        (13 * 24 + 12, "about 2 weeks after your procedure"),
        (56 * 24 + 11.9, "about 8 weeks after your procedure"),
        (56 * 24 + 12, "about 2 months after your procedure"),
    ],
)
def test_times_after_the_procedure_are_in_words(client, episode_ny, hours, words):
    factories.gen_entry(episode_ny.episode, 5, hours)
    html = page_at(client, f"/p/{episode_ny.token}/entries/1", hours + 0.01)
    assert f"You reported 5 out of 10, {words}." in html


def test_the_handout_speaks_to_the_patient_with_dates_in_full(client, episode_ny):
    html = page_at(client, f"/p/{episode_ny.token}/handout", 24)
    assert "<h1" in html and "Your check-ins after your procedure" in html
    assert re.search(r'<img class="qr" src="data:image/svg\+xml', html)
    assert f"/p/{episode_ny.token}</p>" in html
    # Only the check-ins still to come, each with its dates: paper is read on other days.
    assert "About 2 hours after your procedure" not in html
    assert (
        "<strong>About 1 day after your procedure:</strong> between 21:00 on Wednesday "
        "2 December and 09:00 on Thursday 3 December"
    ) in html
    assert "<strong>About 3 months after your procedure:</strong>" in html
    assert "today" not in html and "tomorrow" not in html
    assert "Call emergency services (112) straight away if you have:" in html
    assert "Call the clinic straight away if you have:" in html
    assert '<article class="handout" aria-labelledby="handout-title" lang="en">' in html
    assert "<li>Chest pain</li>" in html and "<li>New weakness in my legs</li>" in html
    assert f'href="tel:{PHONE}"' in html


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "Your check-ins after your procedure"),
        ("es", "Sus registros después del procedimiento"),
    ],
)
def test_staff_print_the_handout_with_the_new_link(client, auth, nurse, clinic, language, title):
    auth.login()
    response = client.post(
        "/staff/enrol",
        data={
            "display_name": "Ann Example",
            "procedure_date": "2026-12-01",
            "procedure_time": "09:00",
            "baseline_pain": "8",
            "indication": "osteoporosis",
            "preferred_language": language,
            "no_phone_reason": "declined",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r'id="patient-link">([^<]+)<', html).group(1)
    # The handout is the patient's, in their language, under the staff page's English
    # heading, with the same link.
    assert 'lang="en"' in html.split("<body", 1)[0]
    assert f'<article class="handout" aria-labelledby="handout-title" lang="{language}">' in html
    assert f'<h2 id="handout-title">{title}</h2>' in html
    assert f'<p class="link-url">{link}</p>' in html
    assert "Print the handout" in html
    # Shown once: the page does not repeat the link or its handout.
    again = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "handout-title" not in again and link not in again


def test_every_patient_page_offers_the_clinic_s_phone(client, episode_ny):
    token = episode_ny.token
    factories.gen_entry(episode_ny.episode, 4, 20)
    call = f'<a class="button button--big button--secondary" href="tel:{PHONE}">'
    for url in (f"/p/{token}", f"/p/{token}/entries/1", f"/p/{token}/reminders"):
        assert call in client.get(url).get_data(as_text=True), url
    assert f'href="tel:{PHONE}"' in client.get(f"/p/{token}/handout").get_data(as_text=True)
    close_episode(episode_ny.episode, staff=factories.gen_staff(episode_ny.episode.clinic))
    db.session.commit()
    invalid = client.get(f"/p/{token}")
    assert invalid.status_code == 404
    assert f'<a class="button button--big" href="tel:{PHONE}">' in invalid.get_data(as_text=True)


def test_a_handout_link_that_does_not_work_says_whom_to_call(client, episode_ny):
    assert client.get("/p/no-such-link/handout").status_code == 404
    close_episode(episode_ny.episode, staff=factories.gen_staff(episode_ny.episode.clinic))
    db.session.commit()
    closed = client.get(f"/p/{episode_ny.token}/handout")
    assert closed.status_code == 404
    html = closed.get_data(as_text=True)
    assert "This link does not work" in html and f'href="tel:{PHONE}"' in html
    assert "handout-title" not in html and episode_ny.token not in html
