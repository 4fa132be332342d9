"""WCAG 2.2 AA on every page, patient and staff, in English and Spanish, driven in Chromium.

Every page in SCREENS is checked by axe-core (no serious or critical violation), for touch
targets (44 x 44 CSS px, 8 px between neighbours), and at 200% text on a 320 px phone (nothing
wider than the screen, targets as large and as far apart). A new page is one more Screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from recovery.care.episodes import close_episode
from recovery.extensions import db
from tests import factories
from tests.browser.conftest import PHONE, SMALL_PHONE

LANGUAGES = ["en", "es"]
ADMIN = "lead@example.test"
#: What axe must never find.
BLOCKING = {"serious", "critical"}
#: Root font size doubled, as a reader's "200% text" setting does to rem-based pages; set from
#: an init script through the CSSOM, which the Content-Security-Policy allows.
LARGE_TEXT = (
    "document.addEventListener('DOMContentLoaded', () => "
    "{ document.documentElement.style.fontSize = '200%'; });"
)


@dataclass
class Ward:
    """One clinic's data for the checks, its patients speaking `language`."""

    url: str
    language: str
    patient: factories.Enrolled
    ok_entry: int
    emergency: factories.Enrolled
    emergency_entry: int
    closed_token: str
    link_episode: int


def seed_ward(url: str, language: str) -> Ward:
    """An administrator, patients on track and in an emergency, a closed follow-up."""
    clinic = factories.gen_clinic(name="Riverside IR", phone="+44 20 7946 0002")
    admin = factories.gen_staff(clinic, ADMIN, role="admin")
    start = datetime.now(UTC) - timedelta(hours=30)
    patient = factories.gen_episode(
        clinic, name="Ana Ortega", procedure_dt=start, preferred_language=language
    )
    ok = factories.gen_entry(patient.episode, 3, 20, is_analgesic_taken=True)
    emergency = factories.gen_episode(
        clinic, name="Berta Blanco", mrn="MRN-B1", procedure_dt=start, preferred_language=language
    )
    factories.gen_entry(emergency.episode, 8, 6, note="sore back")
    alarm = factories.gen_entry(emergency.episode, 7, 22, red_flags=["breathless"])
    closed = factories.gen_episode(clinic, preferred_language=language)
    close_episode(closed.episode, staff=admin)
    spare = factories.gen_episode(clinic, name="Carla Cruz", preferred_language=language)
    db.session.commit()
    return Ward(
        url=url,
        language=language,
        patient=patient,
        ok_entry=ok.entry.id,
        emergency=emergency,
        emergency_entry=alarm.entry.id,
        closed_token=closed.token,
        link_episode=spare.episode.id,
    )


def submit(page, form: str = "main form") -> None:
    """Submit a form with its own button, as a reader does, and wait for the answer."""
    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").first.click()


def fill_and_submit(page, fields: dict[str, str], form: str = "main form") -> None:
    for selector, value in fields.items():
        page.locator(selector).fill(value)
    submit(page, form)


@dataclass(frozen=True)
class Screen:
    """A page in a state worth checking: `show` takes it there from the ward's data.

    `staff` is None for a patient's page, False for a staff page before signing in, True after.
    """

    name: str
    show: Callable[[object, Ward], None]
    staff: bool | None = None


def goto(path: Callable[[Ward], str]) -> Callable[[object, Ward], None]:
    return lambda page, ward: page.goto(ward.url + path(ward))


def checkin_without_a_score(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/p/{ward.patient.token}")
    submit(page, "form.checkin")


def wrong_password(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/login")
    fill_and_submit(page, {"#email": ADMIN, "#password": "not the password"})


def issue_a_link(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/staff/episodes/{ward.link_episode}/link")
    submit(page, "form[action$='/link/reissue']")


def bad_correction(page, ward: Ward) -> None:
    """The first entry's correction, sent without a reason: the page says what is missing."""
    page.goto(f"{ward.url}/staff/episodes/{ward.emergency.episode.id}")
    with page.expect_navigation():
        page.locator("#entries a[href$='/correct']").first.click()
    submit(page)


def bad_target(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/staff/settings")
    fill_and_submit(page, {"#url": "nonsense://x"}, "form[action$='/targets']")


def setting_up_two_step(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/account/2fa")
    submit(page, "form[action$='/2fa/start']")


def wrong_setup_code(page, ward: Ward) -> None:
    fill_and_submit(page, {"#code": "000000"}, "form[action$='/2fa/confirm']")


def recovery_codes(page, ward: Ward) -> None:
    secret = page.locator("#totp-secret").inner_text()
    fill_and_submit(page, {"#code": pyotp.TOTP(secret).now()}, "form[action$='/2fa/confirm']")
    page.wait_for_selector("#recovery-codes")


def idle_warning(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/staff/")
    page.evaluate("document.getElementById('idle-warning').showModal()")


def code_step(page, ward: Ward) -> None:
    """Sign out, then the password: the page that asks for the code."""
    submit(page, "form[action$='/logout']")
    page.goto(f"{ward.url}/login")
    fill_and_submit(page, {"#email": ADMIN, "#password": factories.PASSWORD})
    assert page.url.endswith("/login/code"), page.url


SCREENS = [
    Screen("check-in", goto(lambda w: f"/p/{w.patient.token}")),
    Screen("check-in without a score", checkin_without_a_score),
    Screen("result, on track", goto(lambda w: f"/p/{w.patient.token}/entries/{w.ok_entry}")),
    Screen(
        "result, emergency",
        goto(lambda w: f"/p/{w.emergency.token}/entries/{w.emergency_entry}"),
    ),
    Screen("invalid link, clinic known", goto(lambda w: f"/p/{w.closed_token}")),
    Screen("invalid link, unknown", goto(lambda w: "/p/no-such-link")),
    Screen("reminders", goto(lambda w: f"/p/{w.patient.token}/reminders")),
    Screen("handout", goto(lambda w: f"/p/{w.patient.token}/handout")),
    Screen("login", goto(lambda w: "/login"), staff=False),
    Screen("login, wrong password", wrong_password, staff=False),
    Screen("worklist", goto(lambda w: "/staff/"), staff=True),
    Screen("episode", goto(lambda w: f"/staff/episodes/{w.emergency.episode.id}"), staff=True),
    Screen("link page", issue_a_link, staff=True),
    Screen("enrol", goto(lambda w: "/staff/enrol"), staff=True),
    Screen(
        "enrol, empty",
        lambda page, ward: (page.goto(f"{ward.url}/staff/enrol"), submit(page)),
        staff=True,
    ),
    Screen("password", goto(lambda w: "/account/password"), staff=True),
    Screen(
        "password, empty",
        lambda page, ward: (page.goto(f"{ward.url}/account/password"), submit(page)),
        staff=True,
    ),
    Screen("team", goto(lambda w: "/staff/team"), staff=True),
    Screen("settings", goto(lambda w: "/staff/settings"), staff=True),
    Screen("settings, bad target", bad_target, staff=True),
    Screen("exports", goto(lambda w: "/staff/exports"), staff=True),
    Screen("cohort", goto(lambda w: "/staff/cohort"), staff=True),
    Screen("episode, correction without a reason", bad_correction, staff=True),
    Screen("audit", goto(lambda w: "/staff/audit"), staff=True),
    Screen("audit, bad filter", goto(lambda w: "/staff/audit?episode=abc"), staff=True),
    Screen("account", goto(lambda w: "/account"), staff=True),
    Screen("idle warning", idle_warning, staff=True),
    Screen("two-step sign-in, off", goto(lambda w: "/account/2fa"), staff=True),
    Screen("two-step sign-in, setting up", setting_up_two_step, staff=True),
    Screen("two-step sign-in, wrong code", wrong_setup_code, staff=True),
    Screen("recovery codes", recovery_codes, staff=True),
    Screen("two-step sign-in, on", goto(lambda w: "/account/2fa"), staff=True),
    # Last: it signs out.
    Screen("sign-in code", code_step, staff=True),
    Screen(
        "sign-in code, wrong",
        lambda page, ward: fill_and_submit(page, {"#code": "000000"}),
        staff=True,
    ),
]


def sign_in(page, ward: Ward) -> None:
    page.goto(f"{ward.url}/login")
    fill_and_submit(page, {"#email": ADMIN, "#password": factories.PASSWORD})
    assert page.url == f"{ward.url}/staff/", "could not sign in"


def visit_every_screen(open_page, ward: Ward, check, **page_options) -> list[str]:
    """Show each screen, patients' in their own page, staff's in another, and collect what
    `check(page, screen)` finds wrong, each line prefixed with the screen's name."""
    patient = open_page(locale=ward.language, **page_options)
    staff = open_page(locale=ward.language, **page_options)
    signed_in = False
    problems = []
    for screen in SCREENS:
        page = patient if screen.staff is None else staff
        if screen.staff and not signed_in:
            sign_in(staff, ward)
            signed_in = True
        screen.show(page, ward)
        if page.locator("[data-chart]").count():
            page.wait_for_selector('[data-chart-ready="1"]', timeout=10_000)
        assert page.locator("html").get_attribute("lang") == ward.language, screen.name
        problems += [f"{screen.name}: {problem}" for problem in check(page, screen)]
    for page in (patient, staff):
        problems += [f"script or policy: {problem}" for problem in page.watch.problems]
    return problems


# axe-core ----------------------------------------------------------------------------------

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ') + ' (' + (n.failureSummary || '')
                          .replace(/\\s+/g, ' ').trim() + ')'),
  }));
}"""


def axe_violations(page, axe_source: str) -> list[str]:
    """axe-core's serious and critical violations on the page, one readable line each."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source)
    found = page.evaluate(AXE_RUN)
    return [
        f"{v['id']} [{v['impact']}] {v['help']}: " + "; ".join(v["nodes"][:5])
        for v in found
        if v["impact"] in BLOCKING
    ]


# Touch targets -----------------------------------------------------------------------------

TARGETS = """() => {
  const controlOf = el => el.tagName === 'LABEL' ? el.control : el;
  // Behind a modal dialog the page is inert: only the dialog's controls are targets.
  const scope = document.querySelector('dialog:modal') || document;
  const seen = [...scope.querySelectorAll(
    'a[href], button, select, textarea, input:not([type=hidden]), label[for]')];
  return seen.filter(el => {
    if (el.tagName === 'LABEL') {
      const control = el.control;
      return control && (control.type === 'radio' || control.type === 'checkbox');
    }
    return true;
  }).map(el => {
    const r = el.getBoundingClientRect();
    const control = controlOf(el);
    return {
      what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
            ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '')
            .trim().slice(0, 30) + '"',
      group: control && control.id ? control.id : null,
      left: r.left, top: r.top + window.scrollY, right: r.right, bottom: r.bottom + window.scrollY,
      width: r.width, height: r.height,
      // An element that is not shown, or shown only on focus off-screen (the skip link), or a
      // radio hidden behind its label (the label is the target) is not a target to measure;
      // nor is one inside a closed <details> (Chromium still gives it a box), but its summary.
      hidden: r.width <= 1 || r.height <= 1 || r.right <= 0 ||
              Boolean(el.closest('details:not([open]) > :not(summary)')),
    };
  }).filter(t => !t.hidden);
}"""
MIN_TARGET = 44
MIN_SPACING = 8


def gap(a: dict, b: dict) -> float:
    """The distance between two boxes: 0 when they touch or overlap."""
    dx = max(b["left"] - a["right"], a["left"] - b["right"], 0)
    dy = max(b["top"] - a["bottom"], a["top"] - b["bottom"], 0)
    return max(dx, dy)


def target_problems(page, screen: Screen) -> list[str]:
    """Targets under 44 x 44 px, and neighbours closer than 8 px."""
    targets = page.evaluate(TARGETS)
    problems = [
        f"{t['what']} is {t['width']:.0f} x {t['height']:.0f} px"
        for t in targets
        if t["width"] < MIN_TARGET - 0.5 or t["height"] < MIN_TARGET - 0.5
    ]
    for i, a in enumerate(targets):
        for b in targets[i + 1 :]:
            same = a["group"] is not None and a["group"] == b["group"]
            if not same and gap(a, b) < MIN_SPACING:
                problems.append(f"{a['what']} and {b['what']} are {gap(a, b):.0f} px apart")
    return problems


# Reflow ------------------------------------------------------------------------------------

OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 0.5
                  && !el.closest('.table-wrap'))
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
               (el.className && typeof el.className === 'string'
                ? '.' + el.className.trim().split(/\\s+/).join('.') : ''));
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 6)};
}"""


def reflow_problems(page, screen: Screen) -> list[str]:
    """The page wider than the screen, with the elements that stick out."""
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "32px"
    found = page.evaluate(OVERFLOW)
    if found["scroll"] <= found["width"]:
        return []
    return [f"{found['scroll']} px wide on a {found['width']} px screen: {found['wide']}"]


# The tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_passes_axe_with_large_touch_targets(
    live_server, open_page, axe_source, language
):
    ward = seed_ward(live_server.url, language)

    def check(page, screen):
        return axe_violations(page, axe_source) + target_problems(page, screen)

    problems = visit_every_screen(open_page, ward, check, viewport=PHONE)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_at_200_percent_text_no_page_is_wider_than_a_small_phone(live_server, open_page, language):
    ward = seed_ward(live_server.url, language)

    def check(page, screen):
        return reflow_problems(page, screen) + target_problems(page, screen)

    problems = visit_every_screen(open_page, ward, check, viewport=SMALL_PHONE, init=LARGE_TEXT)
    assert problems == [], "\n".join(problems)


def test_at_200_percent_text_the_pain_scale_takes_more_rows(live_server, open_page):
    ward = seed_ward(live_server.url, "en")
    page = open_page(SMALL_PHONE, init=LARGE_TEXT)
    page.goto(f"{ward.url}/p/{ward.patient.token}")
    boxes = page.eval_on_selector_all(
        ".pain-choice__label",
        "els => els.map(e => ({top: Math.round(e.getBoundingClientRect().top),"
        " width: e.getBoundingClientRect().width, fits: e.scrollWidth <= e.clientWidth}))",
    )
    assert len(boxes) == 11
    assert len({b["top"] for b in boxes}) > 2  # two rows at normal size (test_patient_phone)
    assert all(b["fits"] and b["width"] >= MIN_TARGET for b in boxes), boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= SMALL_PHONE["width"]


def test_a_check_in_without_a_score_focuses_the_error_summary(live_server, open_page):
    ward = seed_ward(live_server.url, "en")
    page = open_page()
    checkin_without_a_score(page, ward)
    summary = page.locator(".error-summary")
    page.wait_for_function("document.activeElement.classList.contains('error-summary')")
    link = summary.get_by_role("link")
    assert link.count() == 1
    assert "Please choose a number from 0 to 10." in link.inner_text()
    assert link.get_attribute("href") == "#pain-0"
    radios = page.locator("input[name=pain]")
    assert radios.count() == 11
    assert all(radios.nth(i).get_attribute("aria-invalid") == "true" for i in range(11))
    described = page.locator("fieldset.pain-scale").get_attribute("aria-describedby").split()
    assert page.locator(f"#{described[-1]}").inner_text() == "Please choose a number from 0 to 10."
    link.click()
    assert page.evaluate("document.activeElement.id") == "pain-0"
    # Answering the question clears the errors.
    page.locator("label[for=pain-4]").click()
    submit(page, "form.checkin")
    assert "/entries/" in page.url
    assert page.watch.problems == []


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"#email": ADMIN, "#password": "wrong"}),
        ("/staff/enrol", {}),
        ("/account/password", {"#new": "short"}),
        ("/staff/settings", {"#url": "nonsense://x"}),
    ],
)
def test_a_failed_staff_form_focuses_its_error_summary(live_server, open_page, path, fields):
    ward = seed_ward(live_server.url, "en")
    page = open_page(touch=False, viewport={"width": 1280, "height": 800})
    if path != "/login":
        sign_in(page, ward)
    page.goto(ward.url + path)
    fill_and_submit(page, fields)
    page.wait_for_function("document.activeElement.classList.contains('error-summary')")
    for link in page.locator(".error-summary a").all():
        field = page.locator(link.get_attribute("href"))
        assert field.get_attribute("aria-invalid") == "true", link.inner_text()
    assert page.locator(".error-summary a").count() >= 1
    assert page.watch.problems == []


def relative_luminance(rgb: str) -> float:
    """WCAG relative luminance of a CSS rgb()/rgba() colour."""
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


FOCUS_RING = """el => {
  const style = getComputedStyle(el);
  let behind = el.parentElement, background = 'rgb(255, 255, 255)';
  while (behind) {
    const colour = getComputedStyle(behind).backgroundColor;
    if (colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') { background = colour; break; }
    behind = behind.parentElement;
  }
  return {style: style.outlineStyle, width: parseFloat(style.outlineWidth),
          colour: style.outlineColor, background};
}"""


def focus_ring(page, selector: str, ring: str | None = None) -> dict:
    """Focus `selector` from the keyboard's side and read the outline drawn on `ring`."""
    page.locator(selector).focus()
    return page.locator(ring or selector).evaluate(FOCUS_RING)


def test_the_focus_ring_is_clear_on_buttons_links_and_the_pain_scale(live_server, open_page):
    ward = seed_ward(live_server.url, "en")
    page = open_page(touch=False, viewport={"width": 1280, "height": 800})
    page.goto(f"{ward.url}/p/{ward.patient.token}")
    page.keyboard.press("Tab")  # the reader uses the keyboard: focus is shown
    rings = {
        "button": focus_ring(page, "form.checkin button[type=submit]"),
        "link": focus_ring(page, "main a[href^='tel:']"),
        "pain radio": focus_ring(page, "#pain-6", "label[for=pain-6]"),
        "checkbox": focus_ring(page, "#red_flags-0"),
    }
    sign_in(page, ward)
    rings["header link"] = focus_ring(page, ".site-header a.brand")
    for name, ring in rings.items():
        assert ring["style"] != "none" and ring["width"] >= 3, (name, ring)
        assert contrast(ring["colour"], ring["background"]) >= 3, (name, ring)
