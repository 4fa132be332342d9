"""Alert history as rows: an alert_event per finding, acknowledgement and resolution.

Until now an alert's history was its `note` (one line per acknowledgement or resolution, an
action code at the start of an acknowledgement's line) and its acknowledged/resolved columns.
This revision moves it into `alert_event` and drops `alert.note`.

How each existing alert becomes events (docs/architecture.md, "Alert history"):

- The audit trail, when it accounts for the alert: the episode's `alert_*` audit rows of the
  alert's rule, in the order they were written, split at each `alert_opened` (the k-th one
  opens the rule's k-th alert). Each finding (opened, updated, escalated) becomes an event with
  its time, severity and reason; an escalation of an acknowledged alert adds "reopened"; each
  acknowledgement and resolution becomes an event with its time and staff member, and takes
  its text from the alert's note, as many lines as the audit row has ("called_patient: rang
  her" -> action `called_patient`, note "rang her"; a resolution's text is all note). It is used only when it explains the alert completely:
  as many opened rows as alerts, every note line claimed, and the alert's final status.
- Otherwise, the alert's own columns: "opened" at `opened_dt` with the (accumulated) reason;
  one "acknowledged" per acknowledgement line at `acknowledged_dt` by `acknowledged_by_id`
  (one without a note if there is no line); "reopened" when an open alert was acknowledged
  before; "resolved" at `resolved_dt` by `resolved_by_id`, whose note is the last line when
  it has no action code (and is not the only line of an acknowledged alert).

The downgrade writes `alert.note` back from the events, as the old code would have.
Plain SQL and Core only: the app's models describe the newest schema, not this one.

Revision ID: 7c3a9e1f5b20
Revises: 4b7e2c9d1a60
Create Date: 2026-12-02 07:40:00

"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7c3a9e1f5b20"
down_revision = "4b7e2c9d1a60"
branch_labels = None
depends_on = None

# The vocabulary as it stands at this revision (recovery/clinical/vocabulary.py may grow later).
KINDS = (
    "acknowledged",
    "escalated",
    "notified",
    "notify_failed",
    "opened",
    "reopened",
    "resolved",
    "updated",
)
ACTIONS = (
    "adjusted_analgesia",
    "booked_review",
    "called_patient",
    "no_action_needed",
    "other",
    "sent_to_emergency",
)
SEVERITIES = ("emergency", "high", "moderate", "urgent")
FINDINGS = ("opened", "updated", "escalated")


def _one_of(column, codes):
    return f"{column} IN ({', '.join(repr(code) for code in sorted(codes))})"


alert = sa.table(
    "alert",
    sa.column("id", sa.Integer),
    sa.column("episode_id", sa.Integer),
    sa.column("rule", sa.String),
    sa.column("severity", sa.String),
    sa.column("status", sa.String),
    sa.column("reason", sa.Text),
    sa.column("reason_message", sa.JSON),
    sa.column("entry_id", sa.Integer),
    sa.column("opened_dt", sa.DateTime(timezone=True)),
    sa.column("updated_dt", sa.DateTime(timezone=True)),
    sa.column("acknowledged_dt", sa.DateTime(timezone=True)),
    sa.column("acknowledged_by_id", sa.Integer),
    sa.column("resolved_dt", sa.DateTime(timezone=True)),
    sa.column("resolved_by_id", sa.Integer),
    sa.column("note", sa.Text),
)
audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Integer),
    sa.column("episode_id", sa.Integer),
    sa.column("staff_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("detail", sa.String),
    sa.column("detail_message", sa.JSON),
    sa.column("created_dt", sa.DateTime(timezone=True)),
)


def _create_table():
    return op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_dt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("detail_message", sa.JSON(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(_one_of("kind", KINDS), name=op.f("ck_alert_event_kind")),
        sa.CheckConstraint(_one_of("action", ACTIONS), name=op.f("ck_alert_event_action")),
        sa.CheckConstraint(
            _one_of("severity", SEVERITIES), name=op.f("ck_alert_event_severity")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_event_alert_id_alert")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["pain_entry.id"], name=op.f("fk_alert_event_entry_id_pain_entry")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_alert_event_staff_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_event")),
    )


def upgrade():
    bind = op.get_bind()
    alerts = bind.execute(
        sa.select(alert).order_by(alert.c.episode_id, alert.c.rule, alert.c.opened_dt, alert.c.id)
    ).all()
    audits = bind.execute(
        sa.select(audit_event)
        .where(
            audit_event.c.episode_id.is_not(None),
            audit_event.c.action.in_(
                [f"alert_{kind}" for kind in (*FINDINGS, "acknowledged", "resolved")]
            ),
        )
        .order_by(audit_event.c.id)
    ).all()
    audits_by_episode = _group(audits, lambda a: a.episode_id)
    rows = []
    for (episode_id, rule), group in _group(alerts, lambda a: (a.episode_id, a.rule)).items():
        trails = _audit_trails(list(_audits_of(audits_by_episode[episode_id], rule)), len(group))
        for index, row in enumerate(group):
            history = None
            if trails is not None:
                history = _from_audit(row, trails[index])
            rows += history if history is not None else _from_columns(row)

    # Before alert_event exists: SQLite rebuilds `alert` to drop a column, and could not drop
    # the old table while rows of another table referred to it (foreign keys are on).
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("note")

    events = _create_table()
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_event_alert_id"), ["alert_id"], unique=False)
    if rows:
        op.bulk_insert(events, rows)


def downgrade():
    bind = op.get_bind()
    event = sa.table(
        "alert_event",
        sa.column("id", sa.Integer),
        sa.column("alert_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("created_dt", sa.DateTime(timezone=True)),
        sa.column("action", sa.String),
        sa.column("note", sa.Text),
    )
    lines = defaultdict(list)
    for row in bind.execute(
        sa.select(event)
        .where(event.c.kind.in_(["acknowledged", "resolved"]))
        .order_by(event.c.alert_id, event.c.created_dt, event.c.id)
    ):
        line = ": ".join(part for part in (row.action, row.note) if part)
        if line:
            lines[row.alert_id].append(line)

    # alert_event goes first, so SQLite can rebuild `alert` (see upgrade).
    with op.batch_alter_table("alert_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_event_alert_id"))
    op.drop_table("alert_event")

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
    if lines:
        bind.execute(
            alert.update().where(alert.c.id == sa.bindparam("alert_id")),
            [{"alert_id": key, "note": "\n".join(value)} for key, value in lines.items()],
        )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.alter_column("note", server_default=None)


# --- from the old shape to events ------------------------------------------------------------


def _group(rows, key):
    groups = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def _audits_of(audits, rule):
    """The episode's audit rows about alerts of `rule`, in the order they were written."""
    for row in audits:
        kind = row.action.removeprefix("alert_")
        prefix = f"{rule} (" if kind in FINDINGS else f"{rule}:"
        if (row.detail or "").startswith(prefix):
            yield row


def _audit_trails(rows, alerts):
    """The rows split per alert at each "opened", or None if they cannot be matched."""
    trails = []
    for row in rows:
        if row.action == "alert_opened":
            trails.append([])
        if not trails:
            return None
        trails[-1].append(row)
    return trails if len(trails) == alerts else None


def _split(line):
    """(action, note) of a note line: "called_patient: rang her" -> ("called_patient", ...)."""
    code, sep, rest = line.partition(": ")
    if code in ACTIONS:
        return code, rest if sep else ""
    return None, line


def _event(row, kind, when, *, staff_id=None, severity=None, action=None, note="", detail="",
           detail_message=None, entry_id=None):
    return {
        "alert_id": row.id,
        "kind": kind,
        "created_dt": when,
        "staff_id": staff_id,
        "action": action,
        "severity": severity if severity in SEVERITIES else None,
        "note": note,
        "detail": detail,
        "detail_message": detail_message,
        "entry_id": entry_id,
    }


def _finding(audit, rule):
    """(severity, reason, reason message) of an `alert_opened/updated/escalated` audit row."""
    severity, _, reason = audit.detail[len(rule) + 2 :].partition("): ")
    message = audit.detail_message if isinstance(audit.detail_message, dict) else None
    reason_message = (message or {}).get("v", {}).get("reason")
    return severity, reason, reason_message if isinstance(reason_message, dict) else None


def _from_audit(row, trail):
    """The alert's events from its audit rows, or None when they do not explain it all."""
    lines = [line for line in (row.note or "").splitlines() if line.strip()]
    events = []
    severity = None
    status = "open"
    last_finding = None
    for audit in trail:
        kind = audit.action.removeprefix("alert_")
        if kind in FINDINGS:
            code, reason, message = _finding(audit, row.rule)
            if kind != "updated" or severity is None:
                severity = code
            reopened = kind == "escalated" and status == "acknowledged"
            if kind == "escalated":
                status = "open"
            last_finding = len(events)
            events.append(
                _event(row, kind, audit.created_dt, severity=severity, detail=reason,
                       detail_message=message)
            )
            if reopened:
                events.append(_event(row, "reopened", audit.created_dt, severity=severity))
            continue
        # What this change appended to the note: as many lines as it said (a note typed on
        # several lines is one acknowledgement).
        said = (audit.detail or "")[len(row.rule) + 1 :].strip()
        needed = len([part for part in said.splitlines() if part.strip()])
        if needed > len(lines):
            return None
        line = "\n".join(lines[:needed])
        del lines[:needed]
        if kind == "acknowledged":
            action, note = _split(line)
            status = "acknowledged"
        else:
            action, note = None, line
            status = "resolved"
        events.append(
            _event(row, kind, audit.created_dt, staff_id=audit.staff_id, severity=severity,
                   action=action, note=note)
        )
    if lines or status != row.status or last_finding is None:
        return None
    if (row.status == "resolved") != (row.resolved_dt is not None):
        return None
    events[last_finding]["entry_id"] = row.entry_id
    return events


def _from_columns(row):
    """The alert's events from its own columns and note, when the audit trail cannot say."""
    lines = [line for line in (row.note or "").splitlines() if line.strip()]
    events = [
        _event(row, "opened", row.opened_dt, severity=row.severity, detail=row.reason,
               detail_message=row.reason_message, entry_id=row.entry_id)
    ]
    resolution = None
    if row.resolved_dt is not None and lines and _split(lines[-1])[0] is None:
        if row.acknowledged_dt is None or len(lines) > 1:
            resolution = lines.pop()
    if row.acknowledged_dt is None and lines:
        # Lines with no acknowledgement to belong to: the resolution's, one after the other.
        resolution = "\n".join([*lines, *([resolution] if resolution else [])])
        lines = []
    if row.acknowledged_dt is not None:
        for line in lines or [""]:
            action, note = _split(line)
            events.append(
                _event(row, "acknowledged", row.acknowledged_dt,
                       staff_id=row.acknowledged_by_id, severity=row.severity, action=action,
                       note=note)
            )
        if row.status == "open":
            when = max(row.updated_dt, row.acknowledged_dt)
            events.append(_event(row, "reopened", when, severity=row.severity))
    if row.resolved_dt is not None:
        events.append(
            _event(row, "resolved", row.resolved_dt, staff_id=row.resolved_by_id,
                   severity=row.severity, note=resolution or "")
        )
    return events
