"""An episode's entries are paged: the staff episode page (50 a page, newest first, the chart
bounded) and `GET /api/v1/episode` (keyset cursor, newest page first); a page stays the same
size and costs the same statements however many entries the episode holds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from recovery.care.models import PainEntry
from recovery.extensions import db
from recovery.staff.services import CHART_ENTRIES, ENTRIES_PER_PAGE
from tests import factories
from tests.test_openapi import Checker

EPISODE_API = "/api/v1/episode"


def bulk_entries(episode, count: int, *, every=timedelta(minutes=40), same_time=False) -> None:
    """`count` stored entries, the newest recorded now and each older one `every` before
    (or all at one time), written directly: a long history, not a burst of check-ins."""
    latest = episode.procedure_dt + timedelta(days=59)
    db.session.add_all(
        PainEntry(
            episode_id=episode.id,
            pain=i % 11,
            recorded_dt=latest if same_time else latest - i * every,
            received_dt=latest if same_time else latest - i * every,
            red_flags=["fever"] if i % 97 == 0 else [],
            note=f"note {i}",
            source="patient",
            idempotency_key=f"bulk-{i}",
        )
        for i in range(count)
    )
    db.session.commit()


def table_notes(html: str) -> list[str]:
    """The notes of the entries table's rows, top to bottom."""
    table = html.split('id="entries"')[1].split("</table>")[0]
    return re.findall(r'data-label="Note">([^<]*)</td>', table)


@pytest.fixture
def long_episode(clinic, now):
    enrolled = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=60))
    factories.gen_entry(enrolled.episode, 9, 30, red_flags=["fever"], note="first")
    bulk_entries(enrolled.episode, 1500)
    return enrolled


def test_an_episode_of_1500_entries_is_a_small_page_in_a_fixed_number_of_statements(
    client, auth, nurse, clinic, now, long_episode, count_queries
):
    auth.login()
    short = factories.gen_episode(clinic, procedure_dt=now - timedelta(days=60))
    factories.gen_entry(short.episode, 9, 30, red_flags=["fever"], note="first")
    bulk_entries(short.episode, 3)
    with count_queries() as q_short:
        assert client.get(f"/staff/episodes/{short.episode.id}").status_code == 200
    with count_queries() as q_long:
        response = client.get(f"/staff/episodes/{long_episode.episode.id}")
    assert response.status_code == 200
    assert len(response.data) < 300_000
    assert q_long.count == q_short.count <= 20
    html = response.get_data(as_text=True)
    assert table_notes(html) == [f"note {i}" for i in range(ENTRIES_PER_PAGE)]  # newest first
    assert "Page 1 of 31" in html and "Older entries" in html and "Newer entries" not in html
    assert f"The chart shows the latest {CHART_ENTRIES} of 1501 entries" in html


def test_older_and_newer_pages(client, auth, nurse, long_episode):
    auth.login()
    url = f"/staff/episodes/{long_episode.episode.id}"
    first = client.get(url).get_data(as_text=True)
    older = re.search(r'href="([^"]+)" rel="next">Older entries', first).group(1)
    assert older == f"{url}?page=2#entries-heading"
    second = client.get(older).get_data(as_text=True)
    assert table_notes(second) == [f"note {i}" for i in range(50, 100)]
    newer = re.search(r'href="([^"]+)" rel="prev">Newer entries', second).group(1)
    assert newer == f"{url}#entries-heading"
    last = client.get(f"{url}?page=31").get_data(as_text=True)
    assert table_notes(last) == ["first"]  # the oldest, recorded 30 h after the procedure
    assert "Older entries" not in last and "Page 31 of 31" in last
    # Beyond the last page is the last page; a page that is not a number is the first.
    assert table_notes(client.get(f"{url}?page=999").get_data(as_text=True)) == ["first"]
    assert "Page 1 of 31" in client.get(f"{url}?page=x").get_data(as_text=True)


def test_a_usual_episode_has_one_page_and_its_whole_course_on_the_chart(
    client, auth, nurse, enrolled
):
    factories.gen_entry(enrolled.episode, 5, 6)
    factories.gen_entry(enrolled.episode, 4, 20)
    auth.login()
    html = client.get(f"/staff/episodes/{enrolled.episode.id}").get_data(as_text=True)
    assert len(table_notes(html)) == 2
    assert 'class="pager"' not in html and "chart-window" not in html


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def check(client) -> Checker:
    return Checker(client.get("/api/v1/openapi.json").get_json())


def test_the_api_pages_entries_newest_page_first_each_in_time_order(client, enrolled, check):
    bulk_entries(enrolled.episode, 250, every=timedelta(minutes=7))
    first = check(client.get(EPISODE_API, headers=enrolled.headers), 200).get_json()
    keys = [e["idempotency_key"] for e in first["entries"]]
    assert keys == [f"bulk-{i}" for i in reversed(range(100))]  # the newest 100, in time order
    assert first["next_cursor"]
    seen = keys
    cursor = first["next_cursor"]
    pages = 1
    while cursor:
        page = check(
            client.get(EPISODE_API, query_string={"cursor": cursor}, headers=enrolled.headers),
            200,
        ).get_json()
        times = [e["recorded_at"] for e in page["entries"]]
        assert times == sorted(times)
        seen = [e["idempotency_key"] for e in page["entries"]] + seen
        cursor = page["next_cursor"]
        pages += 1
    assert pages == 3
    assert seen == [f"bulk-{i}" for i in reversed(range(250))]  # each once, none missed


def test_entries_recorded_at_the_same_moment_are_paged_by_id(client, enrolled, check):
    bulk_entries(enrolled.episode, 7, same_time=True)
    keys, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = check(
            client.get(EPISODE_API, query_string=query, headers=enrolled.headers), 200
        ).get_json()
        assert len(page["entries"]) <= 3
        keys = [e["idempotency_key"] for e in page["entries"]] + keys
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(keys) == sorted(f"bulk-{i}" for i in range(7)) and len(keys) == 7


def test_a_short_episode_is_one_page_as_before(client, enrolled, check):
    client.post("/api/v1/checkins", json={"pain": 3}, headers=enrolled.headers)
    body = check(client.get(EPISODE_API, headers=enrolled.headers), 200).get_json()
    assert [e["pain"] for e in body["entries"]] == [3] and body["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"limit": "0"}, "out_of_range", "limit"),
        ({"limit": "501"}, "out_of_range", "limit"),
        ({"limit": "ten"}, "invalid_type", "limit"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor", "cursor"),
        ({"cursor": "WzEsMl0"}, "invalid_cursor", "cursor"),  # [1,2]
        ({"page": "2"}, "unknown_parameter", "page"),
    ],
)
def test_bad_paging_parameters_are_refused(client, enrolled, check, query, code, field):
    response = client.get(EPISODE_API, query_string=query, headers=enrolled.headers)
    assert check.error(response, 400, code)["field"] == field
