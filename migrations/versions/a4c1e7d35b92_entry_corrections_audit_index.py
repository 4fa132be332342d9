"""Entry corrections and the audit page's index.

A pain entry is never deleted: a staff member corrects one by recording a new entry that
supersedes it (`pain_entry.supersedes_id`, unique: an entry is corrected at most once) with a
reason (`pain_entry.correction_reason`). `audit_event` gains an index on (clinic_id,
created_dt) for the audit page, which lists a clinic's events newest first.

Downgrading drops the link between a correction and the entry it replaced: both stay, as two
entries in force.

Revision ID: a4c1e7d35b92
Revises: b8e4d1f27a63
Create Date: 2026-12-03 08:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "a4c1e7d35b92"
down_revision = "b8e4d1f27a63"
branch_labels = None
depends_on = None


def upgrade():
    # SQLite adds a foreign key by rebuilding `pain_entry` (batch mode, foreign keys off:
    # alerts point at its rows), as the caregiver migration changes its CHECK.
    with op.batch_alter_table("pain_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("correction_reason", sa.String(length=1000), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_pain_entry_supersedes_id_pain_entry"), "pain_entry", ["supersedes_id"], ["id"]
        )
        batch_op.create_index("uq_pain_entry_supersedes_id", ["supersedes_id"], unique=True)
    op.create_index(
        "ix_audit_event_clinic_created", "audit_event", ["clinic_id", "created_dt"], unique=False
    )


def downgrade():
    op.drop_index("ix_audit_event_clinic_created", table_name="audit_event")
    with op.batch_alter_table("pain_entry", schema=None) as batch_op:
        batch_op.drop_index("uq_pain_entry_supersedes_id")
        batch_op.drop_constraint(
            op.f("fk_pain_entry_supersedes_id_pain_entry"), type_="foreignkey"
        )
        batch_op.drop_column("correction_reason")
        batch_op.drop_column("supersedes_id")
