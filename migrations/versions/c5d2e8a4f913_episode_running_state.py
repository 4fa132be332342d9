"""The episode's running state, so a check-in reads none of the earlier entries.

`episode` gains what the rules and the summary need of its entries in force
(recovery.care.summary): the lowest score from the end of the quiet hours and the first score
above the persistent threshold from the 1-week window (each with its hours since procedure),
the latest score before the procedure, the labels of the check-in windows an entry fills, and
the fingerprint of the clinic settings they were computed under. Existing episodes get no
state (a NULL fingerprint): their next entry rebuilds it from their entries, as it does after a
clinic changes its settings.

Revision ID: c5d2e8a4f913
Revises: c5d2e8a41f07
Create Date: 2026-12-03 14:30:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "c5d2e8a4f913"
down_revision = "c5d2e8a41f07"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable columns only: SQLite adds them in place, without rebuilding `episode`.
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_fingerprint", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("lowest_pain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lowest_hours", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("high_after_week_pain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("high_after_week_hours", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pre_procedure_pain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("filled_windows", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.drop_column("filled_windows")
        batch_op.drop_column("pre_procedure_pain")
        batch_op.drop_column("high_after_week_hours")
        batch_op.drop_column("high_after_week_pain")
        batch_op.drop_column("lowest_hours")
        batch_op.drop_column("lowest_pain")
        batch_op.drop_column("state_fingerprint")
