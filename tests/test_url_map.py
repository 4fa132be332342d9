"""Every route of the app, as its URL map lists it, refuses everyone but its rightful user.

The routes come from `app.url_map` of a throwaway app, each with each of its methods, so a
route added later is tested without anyone remembering to: it must be classified in `ROUTES`
(one line) or its test fails and says how. For each route and method, on a seeded "victim"
clinic whose records fill the URL's parameters (episode, alert, entry, staff member, patient
link, notification target):

- the rightful user (a nurse, an administrator, the patient's link, an API token of the right
  kind) gets no 4xx, and a POST of theirs changes the victim's data: the request would work;
- then each other kind of user sends the very same request and is refused: anonymous users
  are sent to sign in (staff pages) or get 401 (the API) or 404 (an unknown patient link);
  a patient of the same clinic, with their own link's token as a Bearer header, too; a
  nurse and an administrator of another clinic get 404 or 403 for the victim's records (and
  their own clinic's data where the URL names none); a nurse of the same clinic gets 403 on
  an administrator's page, and 401 on the API, which a signed-in session does not open.
  No refused answer holds any of the victim's data (patient's name, MRN, email, note text,
  the staff's emails), and the victim's rows are the same after it as before.

The test configuration turns CSRF off (tests/factories.py), which is what an attacker with a
valid CSRF token of their own session gets: the refusals tested here are the access checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import or_

from recovery import create_app
from recovery.care import twofactor
from recovery.care.accounts import deactivate_staff, issue_api_token
from recovery.care.clinics import clinic_zone, update_clinic_settings
from recovery.care.episodes import issue_link
from recovery.care.models import Alert, StaffSession
from recovery.care.senders import target_key
from recovery.clinical.vocabulary import EntrySource
from recovery.extensions import db
from tests import factories
from tests.conftest import FreshContextClient

# --- who may use a route ---------------------------------------------------------------------

PUBLIC = "public"  # anyone, signed in or not: shows nothing of any patient
STAFF = "staff"  # any signed-in staff member, for their own clinic's records
ADMIN = "admin"  # a signed-in administrator, for their own clinic
SELF = "self"  # any signed-in staff member, about their own account only
PATIENT_LINK = "patient link"  # whoever holds the patient's (or caregiver's) link: /p/<token>
PATIENT_TOKEN = "patient token"  # the API with a patient link's token as a Bearer header
STAFF_TOKEN = "staff token"  # the integration API with a staff API token


@dataclass(frozen=True)
class Access:
    """Who may use a route, and the request with which its rightful user succeeds.

    Strings in `data`, `json` and `query` may name the victim's values (`Victim.values`) as
    `{name}`. `ids` maps a URL parameter to the victim's value it takes, where that is not the
    value of the same name. `changes`: a POST by the rightful user changes the victim's rows.
    """

    kind: str
    data: Mapping[str, str] | None = None
    json: Mapping[str, Any] | None = None
    query: Mapping[str, str] | None = None
    ids: Mapping[str, str] = field(default_factory=dict)
    changes: bool = True

    def __call__(self, **changes) -> Access:
        return dataclasses.replace(self, **changes)


PUBLIC, STAFF, ADMIN, SELF = Access(PUBLIC), Access(STAFF), Access(ADMIN), Access(SELF)
PATIENT_LINK, PATIENT_TOKEN, STAFF_TOKEN = (
    Access(PATIENT_LINK),
    Access(PATIENT_TOKEN),
    Access(STAFF_TOKEN),
)
CONFIRM: dict[str, str] = {}  # a button (`ConfirmForm`): nothing but the CSRF token
DAYS = {"start": "{first_day}", "end": "{last_day}"}

#: Every endpoint of the app: who may use it, and a request that works for them.
ROUTES: dict[str, Access] = {
    "index": PUBLIC,
    "healthz": PUBLIC,
    "static": PUBLIC,
    "auth.login": PUBLIC(data={"email": "{nurse_email}", "password": factories.PASSWORD}),
    "api.openapi": PUBLIC,
    "patient.start": PUBLIC,
    "patient.manifest": PUBLIC,
    "patient.service_worker": PUBLIC,
    # The second step of signing in: without a password given first, back to sign in.
    "auth.code": PUBLIC(data={"code": "123456"}, changes=False),
    # A signed-in staff member's own account.
    "auth.account": SELF,
    "auth.end_session": SELF(data=CONFIRM),  # the nurse's other session
    "auth.end_all_sessions": SELF(data=CONFIRM),
    "auth.keepalive": SELF(changes=False),  # only the session's "last seen" (BOOKKEEPING)
    "auth.idle": SELF(changes=False),  # the session was just used: it is not ended
    "auth.two_factor": SELF,
    "auth.two_factor_start": SELF(data=CONFIRM),
    "auth.two_factor_confirm": SELF(data={"code": "{setup_code}"}),
    # The nurse has no second factor to renew codes of or turn off: these answer with a
    # redirect for her, and refuse everyone else.
    "auth.two_factor_codes": SELF(data={"code": "{setup_code}"}, changes=False),
    "auth.two_factor_off": SELF(
        data={"password": factories.PASSWORD, "code": "{setup_code}"}, changes=False
    ),
    "auth.change_password": SELF(
        data={
            "current": factories.PASSWORD,
            "new": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        }
    ),
    "auth.logout": SELF,
    # The patient's pages, keyed by their link.
    "patient.checkin": PATIENT_LINK(data={"pain": "3", "idempotency_key": "page-key"}),
    "patient.result": PATIENT_LINK,
    "patient.handout_page": PATIENT_LINK,
    "patient.set_language": PATIENT_LINK(data={"language": "es"}),
    "patient.reminders": PATIENT_LINK(data={"wanted": "off"}),
    # The API.
    "api.create_checkin": PATIENT_TOKEN(json={"pain": 4, "idempotency_key": "api-key"}),
    "api.get_episode": PATIENT_TOKEN,
    "api.list_alerts": STAFF_TOKEN,
    "api.show_alert": STAFF_TOKEN,
    "api.episode_fhir": STAFF_TOKEN,
    "api.episode_entries": STAFF_TOKEN,
    "api.episode_alerts": STAFF_TOKEN,
    "api.clinic_entries": STAFF_TOKEN(query=DAYS),
    "api.clinic_alerts_export": STAFF_TOKEN(query=DAYS),
    # Staff pages.
    "staff.worklist": STAFF,
    "staff.changes": STAFF,
    "staff.cohort": STAFF,
    "staff.enrol": STAFF(
        data={
            "display_name": "New Patient",
            "no_phone_reason": "no phone",
            "preferred_language": "en",
            "procedure_date": "{first_day}",
            "procedure_time": "09:30",
            "indication": "osteoporosis",
            "baseline_pain": "8",
        }
    ),
    "staff.episode": STAFF,
    "staff.show_link": STAFF,
    "staff.reissue_link": STAFF(data=CONFIRM),
    "staff.revoke": STAFF(data=CONFIRM),
    "staff.issue_caregiver_link": STAFF(data=CONFIRM),
    "staff.revoke_caregiver_link": STAFF(data=CONFIRM),
    "staff.correct_entry": STAFF(
        data={"correct-{entry_id}-pain": "2", "correct-{entry_id}-reason": "typed 9 for 2"}
    ),
    "staff.record_entry": STAFF(
        data={
            "pain": "5",
            "recorded_date": "{today}",
            "recorded_time": "{hour}:00",
            "idempotency_key": "staff-key",
        }
    ),
    "staff.close": STAFF(data=CONFIRM),
    "staff.acknowledge": STAFF(data={"action": "called_patient", "note": "rang"}),
    "staff.contact": STAFF(data={"outcome": "no_answer", "note": "no reply"}),
    "staff.resolve": STAFF(data={"note": "settled"}),
    "staff.exports": STAFF,
    "staff.export_clinic_entries": STAFF(query=DAYS),
    "staff.export_clinic_alerts": STAFF(query=DAYS),
    "staff.export_episode_entries": STAFF,
    "staff.export_episode_alerts": STAFF,
    # An administrator's pages.
    "staff.audit": ADMIN,
    "staff.audit_csv": ADMIN,
    "staff.reset_member_second_factor": ADMIN(data=CONFIRM),
    "staff.team": ADMIN,
    "staff.add_member": ADMIN(
        data={"email": "new.{actor}@example.org", "role": "nurse", "name": "New Nurse"}
    ),
    "staff.deactivate_member": ADMIN(data=CONFIRM),
    "staff.reactivate_member": ADMIN(data=CONFIRM, ids={"staff_id": "inactive_id"}),
    "staff.reset_member_password": ADMIN(data=CONFIRM),
    "staff.issue_member_token": ADMIN(data=CONFIRM),
    "staff.revoke_member_token": ADMIN(data=CONFIRM),
    "staff.settings": ADMIN,
    "staff.add_target": ADMIN(data={"kind": "notify", "url": "json://localhost/new-hook"}),
    "staff.remove_target": ADMIN(data=CONFIRM),
    "staff.save_timing": ADMIN(
        data={"escalate_after_minutes": "45", "quiet_hours": "", "response_hours": "12"}
    ),
}

#: URL parameters that name one of the victim's records: a request for them by someone who
#: may not see them is refused outright (404 or 403), whatever else they may see.
RECORD_PARAMETERS = {"episode_id", "alert_id", "entry_id", "staff_id", "key"}

#: Columns a request updates whoever sends it (not the victim's data), left out of the
#: before-and-after comparison: table -> column names. A server-side session's "last seen"
#: time goes here.
BOOKKEEPING: dict[str, set[str]] = {"staff_session": {"last_seen_dt"}}

# --- the routes, from a throwaway app --------------------------------------------------------

_MAP_APP = create_app(factories.app_config("sqlite://"))
ROUTE_METHODS = [
    pytest.param(rule.endpoint, rule.rule, method, id=f"{method} {rule.rule}")
    for rule in sorted(_MAP_APP.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
]
ENDPOINTS = {rule.endpoint for rule in _MAP_APP.url_map.iter_rules()}
RULES = {(rule.endpoint, rule.rule): rule for rule in _MAP_APP.url_map.iter_rules()}
VIEW_MODULES = {name: view.__module__ for name, view in _MAP_APP.view_functions.items()}
UNCLASSIFIED = (
    "{endpoint} ({method} {rule}) is not in ROUTES (tests/test_url_map.py): add one line "
    "saying who may use it (PUBLIC, STAFF, ADMIN, SELF, PATIENT_LINK, PATIENT_TOKEN, "
    "STAFF_TOKEN) and, for a form, the fields with which its rightful user succeeds"
)

# --- the victim, and everyone else -----------------------------------------------------------

#: The victim's data: none of it may appear in an answer to anyone else.
MARKERS = (
    "Vera Victimova",
    "MRN-VICTIM-7731",
    "vera.victimova@victim.test",
    "victim-note-quartz",
    "victim.admin@victim.test",
    "victim.nurse@victim.test",
    "victim.member@victim.test",
)
UNKNOWN_TOKEN = "x" * 43  # the shape of a link's token, no link's


@dataclass
class Actor:
    """Someone sending requests: a client (signed in or not), a Bearer token, and the patient
    link token they would put in a /p/ URL."""

    name: str
    client: FreshContextClient
    bearer: str | None = None
    link_token: str = UNKNOWN_TOKEN

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}


@dataclass
class Victim:
    """The seeded victim clinic and the people around it."""

    clinic_id: int
    values: dict[str, Any]
    rightful: dict[str, Actor]  # by route kind
    others: dict[str, Actor]  # by actor name
    excluded: dict[str, set[int]]  # a bystander patient's own rows: not the victim's


def signed_in(app, email: str) -> FreshContextClient:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": factories.PASSWORD})
    assert response.status_code == 302, email
    return client


@pytest.fixture
def victim(app, now) -> Victim:
    app.test_client_class = FreshContextClient
    clinic = factories.gen_clinic(name="Victim Clinic")
    admin = factories.gen_staff(clinic, email="victim.admin@victim.test", role="admin")
    nurse = factories.gen_staff(clinic, email="victim.nurse@victim.test")
    member = factories.gen_staff(clinic, email="victim.member@victim.test")
    inactive = factories.gen_staff(clinic, email="victim.inactive@victim.test")
    admin_token = issue_api_token(admin)
    issue_api_token(member)
    twofactor.set_up_directly(member)  # a second factor for the team page to reset
    setup_secret = twofactor.start_setup(nurse)  # the nurse is setting hers up
    deactivate_staff(inactive, by=admin)
    target = "json://localhost/victim-hook"
    update_clinic_settings(clinic, notify=[target])
    db.session.commit()
    enrolled = factories.gen_episode(
        clinic,
        name="Vera Victimova",
        mrn="MRN-VICTIM-7731",
        email="vera.victimova@victim.test",
        phone="+44 7700 900731",
        procedure_dt=now - timedelta(hours=30),
    )
    entry = factories.gen_entry(
        enrolled.episode, 9, 24, red_flags=["fever"], note="victim-note-quartz"
    ).entry
    issue_link(enrolled.episode, holder=EntrySource.CAREGIVER)
    db.session.commit()
    alert = db.session.scalar(db.select(Alert).where(Alert.episode_id == enrolled.episode.id))
    bystander = factories.gen_episode(clinic, name="Bob Bystander")

    other = factories.gen_clinic(name="Other Clinic")
    other_nurse = factories.gen_staff(other, email="nurse@other.test")
    other_admin = factories.gen_staff(other, email="admin@other.test", role="admin")
    other_tokens = issue_api_token(other_nurse), issue_api_token(other_admin)
    db.session.commit()
    factories.gen_entry(factories.gen_episode(other).episode, 9, 20, red_flags=["fever"])

    patient = Actor("patient", app.test_client(), bystander.token, bystander.token)
    assert patient.client.get(f"/p/{bystander.token}").status_code == 200  # they use it
    local = now.astimezone(clinic_zone(clinic))
    values = {
        "episode_id": enrolled.episode.id,
        "alert_id": alert.id,
        "entry_id": entry.id,
        "staff_id": member.id,
        "inactive_id": inactive.id,
        "token": enrolled.token,
        "kind": "notify",
        "key": target_key(target),
        "filename": "css/app.css",
        "nurse_email": nurse.email,
        "first_day": (now - timedelta(days=3)).date().isoformat(),
        "last_day": (now + timedelta(days=1)).date().isoformat(),
        "today": (local - timedelta(hours=1)).date().isoformat(),
        "hour": f"{(local - timedelta(hours=1)).hour:02d}",
        "setup_code": twofactor.code_at(setup_secret, now),
    }
    seeded = Victim(
        clinic_id=clinic.id,
        values=values,
        rightful={
            PUBLIC.kind: Actor("anonymous", app.test_client()),
            STAFF.kind: Actor("nurse", signed_in(app, nurse.email)),
            SELF.kind: Actor("nurse", signed_in(app, nurse.email)),
            ADMIN.kind: Actor("admin", signed_in(app, admin.email)),
            PATIENT_LINK.kind: Actor("patient's phone", app.test_client(), None, enrolled.token),
            PATIENT_TOKEN.kind: Actor("patient's phone", app.test_client(), enrolled.token),
            STAFF_TOKEN.kind: Actor("integration", app.test_client(), admin_token),
        },
        others={
            "anonymous": Actor("anonymous", app.test_client()),
            "patient": patient,
            "other nurse": Actor("other nurse", signed_in(app, other_nurse.email), other_tokens[0]),
            "other admin": Actor("other admin", signed_in(app, other_admin.email), other_tokens[1]),
            "colleague": Actor("colleague", signed_in(app, nurse.email)),  # no API token
        },
        excluded={"patient": {bystander.episode.patient_id}, "episode": {bystander.episode.id}},
    )
    # The colleague's session: the nurse's latest, which she may sign out from her account.
    seeded.values["session_id"] = db.session.scalar(
        db.select(db.func.max(StaffSession.id)).where(StaffSession.staff_user_id == nurse.id)
    )
    return seeded


# --- what each of them must get --------------------------------------------------------------

LOGIN = "sent to sign in"  # a redirect to /login (or 401)
OWN = "refused the victim's records"  # 403/404 where the URL names them, else anything
ANY = "anything"  # their own business (their own account, their own link)

#: Route kind -> actor -> what they get. An actor not listed is not tried on that kind.
EXPECTED: dict[str, dict[str, Any]] = {
    PUBLIC.kind: {},
    STAFF.kind: {"anonymous": LOGIN, "patient": LOGIN, "other nurse": OWN, "other admin": OWN},
    ADMIN.kind: {
        "anonymous": LOGIN,
        "patient": LOGIN,
        "other nurse": {403},
        "other admin": OWN,
        "colleague": {403},
    },
    SELF.kind: {"anonymous": LOGIN, "patient": LOGIN, "other nurse": ANY},
    PATIENT_LINK.kind: {"anonymous": {404}, "patient": OWN, "other nurse": {404}},
    PATIENT_TOKEN.kind: {
        "anonymous": {401},
        "patient": ANY,
        "other nurse": {401},
        "colleague": {401},
    },
    STAFF_TOKEN.kind: {
        "anonymous": {401},
        "patient": {401},
        "colleague": {401},
        "other nurse": OWN,
        "other admin": OWN,
    },
}


def is_sign_in(response) -> bool:
    """A redirect to the sign-in page, or 401."""
    if response.status_code == 401:
        return True
    location = response.headers.get("Location", "")
    return response.status_code in (302, 303) and urlsplit(location).path == "/login"


def victim_rows(victim: Victim) -> dict[str, list[str]]:
    """Every row of the victim clinic's data: the clinic, and every row that refers to it or
    to one of its rows (its staff, patients, episodes, entries, alerts, audit trail...),
    following foreign keys; but for the bystander patient's own rows."""
    scope: dict[str, set] = {"clinic": {victim.clinic_id}}
    excluded: dict[str, set] = {k: set(v) for k, v in victim.excluded.items()}
    snapshot = {}
    for table in db.metadata.sorted_tables:
        if table.name == "clinic":
            rows = db.session.execute(table.select().where(table.c.id == victim.clinic_id))
        else:
            links = [
                (fk.parent, fk.column.table.name)
                for fk in table.foreign_keys
                if fk.column.table.name in scope
            ]
            if not links:
                continue
            rows = db.session.execute(
                table.select().where(or_(*(c.in_(scope[t]) for c, t in links if scope[t])))
            )
        ignored = BOOKKEEPING.get(table.name, set())
        refs = [(fk.parent.name, fk.column.table.name) for fk in table.foreign_keys]
        kept = []
        for row in rows.mappings():
            own = "id" in row and row["id"] in excluded.get(table.name, ())
            if own or any(row[c] in excluded.get(t, ()) for c, t in refs):
                excluded.setdefault(table.name, set()).add(row.get("id"))
                continue
            if "id" in row:
                scope.setdefault(table.name, set()).add(row["id"])
            kept.append(repr(sorted((k, v) for k, v in row.items() if k not in ignored)))
        snapshot[table.name] = sorted(kept)
    db.session.rollback()
    return snapshot


def request(actor: Actor, access: Access, rule: str, endpoint: str, method: str, victim):
    """`actor` sends the rightful user's request, with their own link token in a /p/ URL."""
    values = {**victim.values, "actor": actor.name.replace(" ", "-").replace("'", "")}
    url_values = {}
    for name in RULES[endpoint, rule].arguments:
        source = access.ids.get(name, name)
        if name == "token":
            url_values[name] = actor.link_token
        elif source in values:
            url_values[name] = values[source]
        else:
            pytest.fail(f"{rule}: give the victim a value for the URL parameter {name!r}")
    url = _MAP_APP.url_map.bind("localhost").build(endpoint, url_values, method=method)

    def fill(mapping):
        if mapping is None:
            return None
        return {
            k.format(**values): v.format(**values) if isinstance(v, str) else v
            for k, v in mapping.items()
        }

    body = {}
    if method != "GET":
        body = {"json": fill(access.json)} if access.json else {"data": fill(access.data) or {}}
    return actor.client.open(
        url,
        method=method,
        query_string=fill(access.query),
        headers=actor.headers,
        **body,
    ), url


def leaked(response) -> list[str]:
    text = response.get_data(as_text=True) + response.headers.get("Location", "")
    return [marker for marker in MARKERS if marker in text]


@pytest.mark.parametrize("endpoint,rule,method", ROUTE_METHODS)
def test_only_the_rightful_user_gets_through(app, victim, endpoint, rule, method):
    access = ROUTES.get(endpoint)
    if access is None:
        pytest.fail(UNCLASSIFIED.format(endpoint=endpoint, method=method, rule=rule))
    names_records = bool(set(RULES[endpoint, rule].arguments) & RECORD_PARAMETERS)

    before = victim_rows(victim)
    for name, expected in EXPECTED[access.kind].items():
        actor = victim.others[name]
        response, url = request(actor, access, rule, endpoint, method, victim)
        status = response.status_code
        where = f"{method} {url} by {name}: {status}"
        assert status < 500, where
        if expected is LOGIN:
            assert is_sign_in(response), where
        elif expected is OWN and names_records:
            assert status in (403, 404), where
        elif isinstance(expected, set):
            assert status in expected, where
        assert not leaked(response), f"{where} shows {leaked(response)}"
        assert victim_rows(victim) == before, f"{where} changed the victim's data"

    # Last, the rightful user: the same request works for them.
    actor = victim.rightful[access.kind]
    response, url = request(actor, access, rule, endpoint, method, victim)
    where = f"{method} {url} by the rightful {actor.name}: {response.status_code}"
    assert response.status_code < 400, where
    if method == "GET" and access.kind != PUBLIC.kind:
        assert not is_sign_in(response), where
    if method == "POST" and access.changes:  # (signing out ends at the sign-in page)
        assert victim_rows(victim) != before, f"{where} changed nothing: is the request right?"


def test_every_route_is_classified():
    """One list of what is missing (each route's own test says it too), and no stale line."""
    missing = sorted(ENDPOINTS - set(ROUTES))
    assert not missing, f"classify in ROUTES: {missing}"
    assert not set(ROUTES) - ENDPOINTS, f"no such endpoint: {sorted(set(ROUTES) - ENDPOINTS)}"


def kinds_from_code(endpoint: str) -> set[str]:
    """What the code says of an endpoint, from its blueprint and module: the kinds it may be."""
    blueprint = endpoint.partition(".")[0] if "." in endpoint else ""
    module = VIEW_MODULES[endpoint]
    arguments = {a for (e, _), rule in RULES.items() if e == endpoint for a in rule.arguments}
    if module in ("recovery.staff.team", "recovery.staff.settings"):
        return {ADMIN.kind}  # "for its administrators", each view calls require_admin
    if blueprint == "staff":
        return {STAFF.kind, ADMIN.kind}  # the blueprint requires a signed-in user
    if blueprint == "auth":
        return {PUBLIC.kind, SELF.kind}
    if module == "recovery.api.integration":
        return {STAFF_TOKEN.kind}
    if blueprint == "api":
        return {PATIENT_TOKEN.kind, PUBLIC.kind}
    if blueprint == "patient":
        return {PATIENT_LINK.kind} if "token" in arguments else {PUBLIC.kind}
    return {PUBLIC.kind}  # the app's own: /, /healthz, /static


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_the_table_agrees_with_the_code(endpoint):
    """A staff page cannot be classified public by mistake, nor an integration endpoint a
    patient's: the table may only choose among the kinds its blueprint and module allow."""
    if endpoint not in ENDPOINTS:
        pytest.skip("not an endpoint (test_every_route_is_classified fails)")
    assert ROUTES[endpoint].kind in kinds_from_code(endpoint)


def test_the_victims_data_shows_to_the_rightful_user(app, victim):
    """The markers are what the pages show: their absence above means something."""
    pages = [
        (STAFF.kind, f"/staff/episodes/{victim.values['episode_id']}", MARKERS[:4]),
        (ADMIN.kind, "/staff/team", MARKERS[4:]),
        (STAFF_TOKEN.kind, f"/api/v1/alerts/{victim.values['alert_id']}", MARKERS[:1]),
        (STAFF_TOKEN.kind, f"/api/v1/episodes/{victim.values['episode_id']}/fhir", MARKERS[:2]),
    ]
    for kind, url, markers in pages:
        actor = victim.rightful[kind]
        response = actor.client.get(url, headers=actor.headers)
        assert response.status_code == 200, url
        assert set(leaked(response)) >= set(markers), url
