"""The demo clinic: a nurse and an administrator login, and simulated patients at every stage
of recovery; more of them, thousands at a time, with `add_demo_patients` (`recovery.care.bulk`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func

from ..clinical.simulate import simulate_cohort
from ..clinical.vocabulary import AlertAction, AlertStatus, Severity
from ..extensions import db
from .accounts import create_staff
from .alerts import acknowledge_alert
from .bulk import BulkSeeded, contact_details, seed_bulk
from .clinics import create_clinic
from .episodes import enrol_patient, record_pain_entry
from .models import Alert, Clinic, Episode, StaffUser, utcnow

DEMO_SLUG = "demo"
DEMO_EMAIL = "nurse@demo.test"
DEMO_PASSWORD = "demo-nurse-2026"
#: An administrator too, to try the team page.
DEMO_ADMIN_EMAIL = "admin@demo.test"
DEMO_ADMIN_PASSWORD = "demo-admin-2026"
DEMO_PATIENTS = 40
#: The most patients `add_demo_patients` adds at a time (ten times what the benchmarks seed).
MAX_ADDED_PATIENTS = 100_000
DEMO_SEED = 2026
# How long ago each demo procedure ended, in hours: patients at every stage of follow-up.
STAGES_H = (3, 7, 26, 30, 52, 80, 170, 240, 380, 760, 1100, 2200)
# More patients off course than a real clinic has, so the demo shows every rule.
DEMO_MIX = {
    "responder": 0.5,
    "early_spike": 0.075,
    "slow": 0.1,
    "non_responder": 0.1,
    "rebound": 0.125,
    "red_flag": 0.1,
}
NAMES = (
    "Ada Whitmore",
    "Bernard Okafor",
    "Clara Jensen",
    "Dmitri Novak",
    "Edith Lambert",
    "Felix Moreau",
    "Grace Adeyemi",
    "Hugo Brandt",
    "Irene Castillo",
    "James O'Neill",
    "Katharina Weiss",
    "Leonard Hughes",
    "Margaret Daly",
    "Nils Andersson",
    "Olive Bennett",
    "Patrick Mensah",
    "Queenie Fraser",
    "Rosa Delgado",
    "Samuel Ito",
    "Theresa Kowalski",
    "Ulrich Fischer",
    "Vera Petrova",
    "Walter Greene",
    "Xenia Popescu",
    "Yusuf Demir",
    "Zelda Morgan",
    "Agnes Holloway",
    "Boris Lindqvist",
    "Cecilia Marsh",
    "Desmond Kerr",
    "Eleanor Voss",
    "Frank Osei",
    "Gwen Talbot",
    "Harold Quinn",
    "Isla Ferreira",
    "Joseph Nakamura",
    "Kathleen Byrne",
    "Lionel Dupont",
    "Maud Ellison",
    "Norman Pike",
)


def add_demo_patients(count: int, *, now: datetime) -> BulkSeeded:
    """Add `count` simulated active episodes (realistic courses, alerts, personal links) to the
    demo clinic, enrolled by the demo nurse, as at `now`; flushes. Each call adds more: the
    seed follows the clinic's episode count, so a second call adds other patients.

    ValueError if the demo clinic is missing or `count` is not 1 to MAX_ADDED_PATIENTS.
    """
    if not 1 <= count <= MAX_ADDED_PATIENTS:
        raise ValueError(f"the number of patients must be 1 to {MAX_ADDED_PATIENTS:,}")
    clinic = db.session.scalar(db.select(Clinic).filter_by(slug=DEMO_SLUG))
    nurse = db.session.scalar(db.select(StaffUser).filter_by(email=DEMO_EMAIL))
    if clinic is None or nurse is None:
        raise ValueError("there is no demo clinic to add patients to")
    existing = db.session.scalar(
        db.select(func.count()).select_from(Episode).filter_by(clinic_id=clinic.id)
    )
    return seed_bulk(clinic, nurse, active=count, now=now, seed=DEMO_SEED + existing)


def seed_demo(*, only_if_empty: bool = False, now: datetime | None = None) -> bool:
    """Create the demo clinic, nurse and patients unless present; True when it seeded."""
    if db.session.scalar(db.select(Clinic).filter_by(slug=DEMO_SLUG)) is not None:
        return False
    if only_if_empty and db.session.scalar(db.select(Clinic.id).limit(1)) is not None:
        return False
    now = now or utcnow()
    clinic = create_clinic(DEMO_SLUG, "Demo Spine Clinic", "Europe/London", "+44 20 7946 0000")
    nurse = create_staff(clinic, DEMO_EMAIL, DEMO_PASSWORD, "nurse", "Demo Nurse")
    create_staff(clinic, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, "admin", "Demo Administrator")
    cohort = simulate_cohort(DEMO_PATIENTS, seed=DEMO_SEED, mix=DEMO_MIX)
    for index, sim in enumerate(cohort):
        elapsed_h = STAGES_H[index % len(STAGES_H)] + index * 0.37
        if sim.event_hours is not None:
            # Far enough along that the rebound or red flag has happened.
            elapsed_h = max(elapsed_h, sim.event_hours + 2)
        procedure_dt = now - timedelta(hours=elapsed_h)
        episode = enrol_patient(
            clinic,
            display_name=NAMES[index % len(NAMES)],
            procedure_dt=procedure_dt,
            baseline_pain=sim.baseline,
            levels=("T12", "L1", "L2", "T11, T12", "L1, L2")[index % 5],
            indication=("osteoporosis", "osteoporosis", "osteoporosis", "tumour")[index % 4],
            mrn=f"DEMO{1000 + index}",
            **contact_details(index, NAMES[index % len(NAMES)]),
        ).episode
        for number, reading in enumerate(sim.readings):
            if reading.hours <= 0 or reading.hours > elapsed_h:
                continue
            recorded_dt = procedure_dt + timedelta(hours=reading.hours)
            record_pain_entry(
                episode,
                pain=reading.pain,
                recorded_dt=recorded_dt,
                red_flags=reading.red_flags,
                is_analgesic_taken=reading.hours < 48,
                idempotency_key=f"demo-{index}-{number}",
                now=min(now, recorded_dt + timedelta(minutes=3)),
            )
    db.session.flush()
    _acknowledge_one(nurse, now)
    return True


def _acknowledge_one(nurse: StaffUser, now: datetime) -> None:
    """A nurse has already called about the oldest high alert, so the demo shows work in
    progress and an alert's history."""
    alert = db.session.scalar(
        db.select(Alert)
        .where(Alert.severity == Severity.HIGH.code, Alert.status == AlertStatus.OPEN.value)
        .order_by(Alert.opened_dt, Alert.id)
        .limit(1)
    )
    if alert is not None:
        acknowledge_alert(
            alert,
            nurse,
            action=AlertAction.CALLED_PATIENT.value,
            note="Pain settling with regular paracetamol; will call again tomorrow.",
            now=min(now, alert.updated_dt + timedelta(minutes=25)),
        )
