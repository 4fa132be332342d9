"""Ready-to-show values for the staff pages: templates compute nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import format_datetime, format_timedelta
from flask_babel import gettext as _

from ..care.clinics import clinic_params
from ..care.models import Alert, AlertEvent, AuditEvent, Episode, PainEntry
from ..clinical.curve import chart_hours, curve_points, effective_baseline, expected_pain
from ..clinical.vocabulary import (
    AlertAction,
    AlertEventKind,
    AlertStatus,
    ContactOutcome,
    EntrySource,
    Indication,
    RedFlag,
    Rule,
    Severity,
    duration,
)
from ..translation import format_number, render, translate, words
from ..web.chart_text import chart_labels
from ..web.charts import episode_figure
from .services import TIMELINE_LENGTH, AlertRow, EpisodeDetail, EpisodeRow, PatientAlerts


def status_label(status: str) -> str:
    """The worklist status in words."""
    return {
        "alert": _("Alert"),
        "overdue": _("Overdue"),
        "watch": _("Watch"),
        "on_track": _("On track"),
    }.get(status, status)


def rule_label(rule: str) -> str:
    """An alert rule in words."""
    return words(Rule, rule)


def severity_label(severity: str) -> str:
    """A severity in words."""
    return words(Severity, severity)


def red_flag_label(code: str) -> str:
    """A red flag in the clinician's words (staff pages)."""
    return words(RedFlag, code)


def alert_status_label(status: str) -> str:
    """An alert's state in words."""
    return words(AlertStatus, status)


def hours_text(hours: float) -> str:
    """Hours since procedure at a glance ("24 h", "3 d", "2 wk"), in the reader's language."""
    return render(duration(hours))


def action_label(
    action: str | None, terms: type[AlertAction | ContactOutcome] = AlertAction
) -> str:
    """What a nurse did ("Called the patient"), or with `terms` ContactOutcome how a contact
    attempt went ("No answer"), in words; empty for none."""
    return words(terms, action) if action else ""


def acknowledgement_text(
    action: str | None,
    note: str | None,
    terms: type[AlertAction | ContactOutcome] = AlertAction,
) -> str:
    """An acknowledgement (or a contact attempt) in words: "Called the patient: advised
    analgesia"."""
    return ": ".join(part for part in (action_label(action, terms), (note or "").strip()) if part)


def event_labels() -> dict[str, str]:
    """Every audit action the app records, in words (the timeline's and the audit page's)."""
    return {
        "enrolled": _("enrolled the patient"),
        "link_issued": _("issued a new link"),
        "link_revoked": _("revoked the link"),
        "caregiver_link_issued": _("issued a caregiver link"),
        "caregiver_link_revoked": _("revoked the caregiver link"),
        "entry_recorded": _("recorded an entry"),
        "entry_corrected": _("corrected an entry"),
        "episode_viewed": _("viewed the record"),
        "alert_opened": _("alert opened"),
        "alert_escalated": _("alert escalated"),
        "alert_updated": _("alert updated"),
        "alert_acknowledged": _("acknowledged an alert"),
        "alert_contact": _("recorded a contact attempt"),
        "alert_resolved": _("resolved an alert"),
        "alert_reopened": _("alert reopened"),
        "alert_notified": _("alert sent"),
        "alert_notify_failed": _("alert could not be sent"),
        "closed": _("closed the follow-up"),
        "reminder_sent": _("sent a reminder"),
        "reminder_failed": _("could not send a reminder"),
        "reminders_stopped": _("stopped reminders"),
        "reminders_resumed": _("asked for reminders again"),
        "language_changed": _("chose a language"),
        "exported_entries_csv": _("downloaded the entries"),
        "exported_alerts_csv": _("downloaded the alerts"),
        "exported_fhir": _("exported the record (FHIR)"),
        "audit_exported": _("downloaded the audit trail"),
        "signed_in": _("signed in"),
        "sign_in_failed": _("failed to sign in"),
        "signed_out": _("signed out"),
        "password_changed": _("changed their password"),
        "staff_added": _("added a staff member"),
        "staff_deactivated": _("turned off an account"),
        "staff_reactivated": _("turned an account back on"),
        "staff_password_reset": _("reset a password"),
        "api_token_issued": _("issued an API token"),
        "api_token_revoked": _("revoked an API token"),
        "settings_changed": _("changed the clinic's settings"),
    }


def event_label(action: str) -> str:
    """What an audit event records, in words."""
    return event_labels().get(action, action.replace("_", " "))


def actor_label(event: AuditEvent, staff_name: str | None = None) -> str:
    """Who did it: the staff member's name (`staff_name` when the caller read it already), the
    patient, their caregiver, or the system (the alert rules)."""
    if staff_name:
        return staff_name
    if event.staff:
        return event.staff.display_name
    return {"patient": _("Patient"), "caregiver": _("Caregiver"), "system": _("System")}.get(
        event.actor, event.actor
    )


def indication_label(indication: str) -> str:
    """An episode's indication in words."""
    return words(Indication, indication)


def score_text(pain: int | None, expected: float | None) -> str:
    """ "7/10 (expected 3.3)"."""
    if pain is None:
        return _("no score yet")
    if expected is None:
        return f"{pain}/10"
    return _("%(pain)s/10 (expected %(expected)s)", pain=pain, expected=format_number(expected))


def _latest_acknowledgement_text(row: AlertRow) -> str:
    """What was last done about the alert, named by its nurse when not the acknowledger."""
    text = acknowledgement_text(row.acknowledged_action, row.acknowledged_note)
    if text and row.acknowledged_latest_by and row.acknowledged_latest_by != row.acknowledged_by:
        return f"{row.acknowledged_latest_by}: {text}"
    return text


def tel_href(phone: str) -> str:
    """A tap-to-call link for a number as it was typed ("+44 7700 900123" ->
    "tel:+447700900123"); empty when it holds no digits."""
    digits = "".join(c for c in phone if c.isdigit())
    if not digits:
        return ""
    return "tel:" + ("+" if phone.strip().startswith("+") else "") + digits


def contact_details(
    name: str, phone: str | None, email: str | None, no_phone_reason: str | None
) -> dict:
    """How a nurse reaches the patient: the phone as a tap-to-call link (named "Call <name>
    on <number>" for screen readers), else why there is no number; and whether no reminder
    can reach them at all (neither email nor phone)."""
    phone = (phone or "").strip()
    reason = (no_phone_reason or "").strip()
    if phone:
        no_phone = ""
    elif reason:
        no_phone = _("No phone: %(reason)s", reason=reason)
    else:
        no_phone = _("No phone number")
    return {
        "phone": phone,
        "tel": tel_href(phone),
        "call_label": _("Call %(name)s on %(phone)s", name=name, phone=phone) if phone else "",
        "no_phone": no_phone,
        "no_channel": not (phone or (email or "").strip()),
    }


def _alert_item(row: AlertRow, patient: str, now: datetime) -> dict:
    """One alert in a patient's worklist row."""
    alert = row.alert
    rule = rule_label(alert.rule)
    return {
        "alert_id": alert.id,
        "status": alert.status,
        "severity": alert.severity,
        "severity_label": severity_label(alert.severity),
        "rule": rule,
        "reason": render(alert.reason_message, alert.reason),
        "open_for": format_timedelta(now - alert.opened_dt, threshold=1.1),
        "acknowledged_by": row.acknowledged_by or "",
        "note": _latest_acknowledgement_text(row),
        "acknowledge_label": _("Acknowledge: %(rule)s, %(name)s", rule=rule, name=patient),
    }


def patient_alert_rows(rows: Sequence[PatientAlerts], now: datetime) -> list[dict]:
    """Worklist lines for patients with alerts: one per patient, their alerts most severe
    first; the row takes the severity of the alert that placed it."""
    lines = []
    for row in rows:
        lead = next(a.alert for a in row.alerts if a.alert.id == row.lead_alert_id)
        lines.append(
            {
                "episode_id": row.episode_id,
                "patient": row.patient_name,
                "mrn": row.mrn or "",
                "severity": lead.severity,
                "since_procedure": hours_text((now - row.procedure_dt).total_seconds() / 3600),
                "score": score_text(row.last_pain, row.last_expected),
                "contact": contact_details(
                    row.patient_name, row.phone, row.email, row.no_phone_reason
                ),
                "alerts": [_alert_item(alert, row.patient_name, now) for alert in row.alerts],
            }
        )
    return lines


def due_text(row: EpisodeRow | Episode, now: datetime) -> str:
    """When the next check-in is due, or that it is overdue."""
    if row.due_label is None:
        return _("follow-up complete")
    if row.due_end_dt < now:
        return _(
            "%(label)s missed (window closed %(ago)s ago)",
            label=translate(row.due_label),
            ago=format_timedelta(now - row.due_end_dt, threshold=1.1),
        )
    if row.due_start_dt <= now:
        return _(
            "%(label)s due now, until %(end)s",
            label=translate(row.due_label),
            end=format_datetime(row.due_end_dt, "EEE HH:mm"),
        )
    return _(
        "%(label)s from %(start)s",
        label=translate(row.due_label),
        start=format_datetime(row.due_start_dt, "EEE d MMM HH:mm"),
    )


def change_text(last_pain: int | None, baseline: int | None) -> str:
    """Change from baseline, e.g. "−5"."""
    if last_pain is None or baseline is None:
        return "—"
    change = last_pain - baseline
    return f"{change:+d}".replace("-", "−")


def episode_rows(rows: Sequence[EpisodeRow], now: datetime) -> list[dict]:
    """Worklist lines for episodes."""
    return [
        {
            "episode_id": row.episode_id,
            "patient": row.name,
            "mrn": row.mrn or "",
            "status": row.status,
            "status_label": status_label(row.status),
            "since_procedure": hours_text((now - row.procedure_dt).total_seconds() / 3600),
            "score": score_text(row.last_pain, row.last_expected),
            "change": change_text(row.last_pain, row.baseline_pain),
            "due": due_text(row, now),
            "contact": contact_details(row.name, row.phone, row.email, row.no_phone_reason),
        }
        for row in rows
    ]


def entry_dict(episode: Episode, entry: PainEntry) -> dict:
    """An entry for the charts."""
    return {
        "hours": episode.hours_since_procedure(entry.recorded_dt),
        "pain": entry.pain,
        "red_flags": list(entry.red_flags or []),
        "source": entry.source,
        "recorded_label": _recorded_label(entry),
    }


def _recorded_label(entry: PainEntry) -> str:
    """The chart's hover line for an entry: its time, and who reported it when a caregiver did
    (the chart marks staff entries itself)."""
    when = format_datetime(entry.recorded_dt, "EEE d MMM HH:mm")
    if entry.source == EntrySource.CAREGIVER:
        return _("%(when)s (reported by caregiver)", when=when)
    return when


def episode_chart(detail: EpisodeDetail) -> dict:
    """The staff chart: scores against the expected curve, band, red flags and alerts."""
    episode = detail.episode
    params = clinic_params(episode.clinic)
    baseline, assumed = effective_baseline(detail.baseline, params)
    alerts = [
        {
            "hours": episode.hours_since_procedure(a.entry.recorded_dt if a.entry else a.opened_dt),
            "rule": a.rule,
            "severity": a.severity,
            "reason": render(a.reason_message, a.reason),
        }
        for a in detail.alerts
    ]
    return episode_figure(
        entries=[entry_dict(episode, e) for e in detail.current],
        curve=curve_points(baseline, [0.0, *chart_hours()], params),
        alerts=alerts,
        baseline=baseline,
        baseline_assumed=assumed,
        labels=chart_labels(),
    )


def entry_rows(detail: EpisodeDetail) -> list[dict]:
    """This page of the entries table, newest first: every entry, a corrected one marked as
    such with who corrected it, when and why (`corrected`), and its correction saying what it
    replaced."""
    episode = detail.episode
    params = clinic_params(episode.clinic)
    baseline, _assumed = effective_baseline(detail.baseline, params)
    linked = [*detail.page_entries, *detail.related.values()]
    by_id = {entry.id: entry for entry in linked}
    successors = {e.supersedes_id: e for e in linked if e.supersedes_id is not None}
    return [
        entry_row(
            episode,
            entry,
            expected=lambda hours: expected_pain(baseline, hours, params),
            successor=successors.get(entry.id),
            replaced=by_id.get(entry.supersedes_id) if entry.supersedes_id else None,
        )
        for entry in detail.page_entries
    ]


def entry_row(
    episode: Episode,
    entry: PainEntry,
    *,
    expected=None,
    successor: PainEntry | None = None,
    replaced: PainEntry | None = None,
) -> dict:
    """One entry as staff read it (the entries table, the correction page): `expected` gives
    the expected score at an hour, `successor` is the entry's correction, `replaced` the
    entry it corrects."""
    hours = episode.hours_since_procedure(entry.recorded_dt)
    return {
        "id": entry.id,
        "when": format_datetime(entry.recorded_dt, "EEE d MMM yyyy HH:mm"),
        "since": hours_text(hours),
        "pain": entry.pain,
        "expected": format_number(expected(hours)) if expected and hours > 0 else "—",
        "red_flags": ", ".join(red_flag_label(code) for code in entry.red_flags),
        "analgesic": _("yes") if entry.is_analgesic_taken else _("no"),
        "note": entry.note,
        "source": source_text(entry),
        "in_force": successor is None,
        "corrected": correction_text(successor) if successor else "",
        "correction_of": (
            _(
                "Correction of %(pain)s/10: %(reason)s",
                pain=replaced.pain,
                reason=entry.correction_reason or "",
            )
            if replaced
            else ""
        ),
    }


def correction_text(correction: PainEntry) -> str:
    """Why an entry is no longer in force: who corrected it, when, and why."""
    return _(
        "Corrected by %(name)s on %(when)s: %(reason)s",
        name=correction.recorded_by.display_name if correction.recorded_by else _("staff"),
        when=format_datetime(correction.received_dt, "EEE d MMM yyyy HH:mm"),
        reason=correction.correction_reason or "",
    )


def source_text(entry: PainEntry) -> str:
    """Who reported an entry, for staff: the patient, "reported by caregiver", or the staff
    member who typed it in."""
    if entry.source == EntrySource.CAREGIVER:
        return _("reported by caregiver")
    if entry.source == EntrySource.STAFF and entry.recorded_by:
        return _("staff (%(name)s)", name=entry.recorded_by.display_name)
    return translate(EntrySource.PATIENT.label)


def alert_event_label(kind: str) -> str:
    """A line of an alert's history, in words ("Acknowledged", "New finding")."""
    return words(AlertEventKind, kind)


def alert_event_who(event: AlertEvent) -> str:
    """Who made the change: the staff member, or the system (the alert rules)."""
    return event.staff.display_name if event.staff else _("System")


def alert_event_detail(event: AlertEvent, *, with_note: bool = True) -> str:
    """What the change says: the finding, or what was done (and the note, `with_note`)."""
    if event.detail_message or event.detail:
        return render(event.detail_message, event.detail)
    terms = ContactOutcome if event.kind == AlertEventKind.CONTACT else AlertAction
    return acknowledgement_text(event.action, event.note if with_note else None, terms)


def _with_severity(event: AlertEvent) -> bool:
    """Whether the event set the alert's severity (opened or escalated), so it names it."""
    return event.kind in (AlertEventKind.OPENED, AlertEventKind.ESCALATED) and bool(event.severity)


def alert_history(alert: Alert) -> list[dict]:
    """The alert's history, oldest first: every finding (each red flag with its time), each
    acknowledgement with what was done and its note, who and when."""
    return [
        {
            "when": format_datetime(event.created_dt, "EEE d MMM HH:mm"),
            "kind": event.kind,
            "what": alert_event_label(event.kind),
            "who": alert_event_who(event),
            "severity_label": severity_label(event.severity) if _with_severity(event) else "",
            # The finding, or what was done; the nurse's own words apart, as a note.
            "detail": alert_event_detail(event, with_note=False),
            "note": event.note,
        }
        for event in alert.events
    ]


def alert_cards(alerts: Sequence[Alert], now: datetime) -> list[dict]:
    """The episode's alerts in the order given, each with its history."""
    return [
        {
            "id": alert.id,
            "rule": rule_label(alert.rule),
            "severity": alert.severity,
            "severity_label": severity_label(alert.severity),
            "status": alert.status,
            "status_label": alert_status_label(alert.status),
            "reason": render(alert.reason_message, alert.reason),
            "history": alert_history(alert),
            # An acknowledged alert takes more acknowledgements (a second nurse, a later
            # call): each is added to its history.
            "can_acknowledge": alert.status != "resolved",
            "acknowledge_label": (
                _("Acknowledge") if alert.status == "open" else _("Add an acknowledgement")
            ),
            # A call can be recorded until the alert is resolved, whoever acknowledged it.
            "can_contact": alert.status != "resolved",
            "can_resolve": alert.status != "resolved",
        }
        for alert in alerts
    ]


def timeline(
    events: Sequence[AuditEvent], alerts: Sequence[Alert] = (), limit: int = TIMELINE_LENGTH
) -> list[dict]:
    """Who did what, newest first: the audit trail's changes and the alerts' histories."""
    items = [
        (
            event.created_dt,
            0,
            event.id,
            {
                "when": format_datetime(event.created_dt, "EEE d MMM HH:mm"),
                "who": actor_label(event),
                "what": event_label(event.action),
                "detail": render(event.detail_message, event.detail),
            },
        )
        for event in events
    ]
    for alert in alerts:
        for event in alert.events:
            subject = rule_label(alert.rule)
            if _with_severity(event):
                subject = f"{subject} ({severity_label(event.severity)})"
            detail = alert_event_detail(event)
            items.append(
                (
                    event.created_dt,
                    1,
                    event.id,
                    {
                        "when": format_datetime(event.created_dt, "EEE d MMM HH:mm"),
                        "who": alert_event_who(event),
                        "what": event_label(f"alert_{event.kind}"),
                        "detail": ": ".join(p for p in (subject, detail) if p),
                    },
                )
            )
    items.sort(key=lambda item: item[:3], reverse=True)
    return [item[3] for item in items[:limit]]


def episode_summary(detail: EpisodeDetail, now: datetime) -> dict:
    """The facts at the top of the episode page."""
    episode = detail.episode
    baseline = detail.baseline
    default = clinic_params(episode.clinic).default_baseline
    return {
        "patient": episode.patient.display_name,
        "mrn": episode.patient.mrn or "—",
        "contact": contact_details(
            episode.patient.display_name,
            episode.patient.phone,
            episode.patient.email,
            episode.patient.no_phone_reason,
        ),
        "email": episode.patient.email or "",
        "procedure": format_datetime(episode.procedure_dt, "EEE d MMM yyyy HH:mm"),
        "since": hours_text(episode.hours_since_procedure(now)),
        "levels": episode.levels or "—",
        "indication": indication_label(episode.indication),
        "baseline": (
            f"{baseline}/10"
            if baseline is not None
            else _("not recorded (the chart assumes %(b)s/10)", b=f"{default:g}")
        ),
        "status": _("active") if episode.status == "active" else _("closed"),
        "is_active": episode.status == "active",
        "due": due_text(episode, now) if episode.status == "active" else "—",
        "link": (
            _("working")
            if episode.token_hash
            else _("revoked")
            if episode.status == "active"
            else _("ended with the follow-up")
        ),
        "caregiver_link": caregiver_link_text(episode),
        "has_caregiver_link": episode.caregiver_token_hash is not None,
        "caregiver_issue_label": (
            _("Issue a new caregiver link")
            if episode.caregiver_token_issued_dt
            else _("Issue a caregiver link")
        ),
    }


def caregiver_link_text(episode: Episode) -> str:
    """The caregiver's link in words: working, revoked, ended, or none issued."""
    if episode.caregiver_token_hash:
        return _("working")
    if episode.caregiver_token_issued_dt is None:
        return _("none issued")
    return _("revoked") if episode.status == "active" else _("ended with the follow-up")


def audit_rows(rows) -> list[dict]:
    """The audit page's rows: when (the clinic's time), who, what in words, which patient,
    the detail and the address."""
    return [
        {
            "id": event.id,
            "when": format_datetime(event.created_dt, "EEE d MMM yyyy HH:mm:ss"),
            "who": actor_label(event, staff_name),
            "what": event_label(event.action),
            "action": event.action,
            "episode_id": event.episode_id,
            "patient": patient_name or "",
            "mrn": mrn or "",
            "detail": render(event.detail_message, event.detail),
            "address": event.address or "",
        }
        for event, staff_name, patient_name, mrn in rows
    ]
