"""Alerts carry their clinic; episodes count their unresolved alerts.

`alert.clinic_id` (not null, filled from the alert's episode) with an index on (clinic_id,
status, episode_id): the worklist reads one clinic's alerts of a section's status without
touching other clinics' alerts. A tenant table that carries its clinic can also be
distributed by clinic (docs/deployment.md).

`episode.open_alerts` and `episode.acknowledged_alerts` count the episode's open and
acknowledged alerts (filled here, kept by the app on every alert change), so the worklist's
status of an episode is read from its own row.

Revision ID: c5d2e8a41f07
Revises: a4c1e7d35b92
Create Date: 2026-12-03 14:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "c5d2e8a41f07"
down_revision = "a4c1e7d35b92"
branch_labels = None
depends_on = None


def upgrade():
    for column in ("open_alerts", "acknowledged_alerts"):
        op.add_column(
            "episode", sa.Column(column, sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE episode SET "
        "open_alerts = (SELECT count(*) FROM alert "
        "WHERE alert.episode_id = episode.id AND alert.status = 'open'), "
        "acknowledged_alerts = (SELECT count(*) FROM alert "
        "WHERE alert.episode_id = episode.id AND alert.status = 'acknowledged')"
    )
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "alert_counts", "open_alerts >= 0 AND acknowledged_alerts >= 0"
        )
    op.add_column("alert", sa.Column("clinic_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE alert SET clinic_id = "
        "(SELECT episode.clinic_id FROM episode WHERE episode.id = alert.episode_id)"
    )
    # SQLite sets NOT NULL and the foreign key by rebuilding `alert` (batch mode).
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.alter_column("clinic_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            op.f("fk_alert_clinic_id_clinic"), "clinic", ["clinic_id"], ["id"]
        )
    op.create_index(
        "ix_alert_clinic_status_episode",
        "alert",
        ["clinic_id", "status", "episode_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_alert_clinic_status_episode", table_name="alert")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_alert_clinic_id_clinic"), type_="foreignkey")
        batch_op.drop_column("clinic_id")
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.drop_constraint("alert_counts", type_="check")
        batch_op.drop_column("acknowledged_alerts")
        batch_op.drop_column("open_alerts")
