"""One-time secrets kept server-side, and the index the entry limit counts with.

`one_time_secret` holds a secret to show once (a new link, a temporary password, an API
token) for the staff member who made it, until it is read or expires
(recovery/care/secrets_once.py); before, it waited in the session cookie. Nothing to carry
over: a secret waiting in a cookie during the upgrade is simply not shown.
`ix_pain_entry_episode_received` lets the per-episode entry limit count an episode's entries
received in the last hour without reading them all.

Revision ID: b8e4d1f27a63
Revises: a61c4e2f7b93
Create Date: 2026-12-03 08:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "b8e4d1f27a63"
down_revision = "a61c4e2f7b93"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "one_time_secret",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("created_dt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_dt", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_one_time_secret_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_one_time_secret_staff_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_secret")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_one_time_secret_key_hash")),
    )
    op.create_index("ix_one_time_secret_expires", "one_time_secret", ["expires_dt"])
    op.create_index("ix_pain_entry_episode_received", "pain_entry", ["episode_id", "received_dt"])


def downgrade():
    op.drop_index("ix_pain_entry_episode_received", table_name="pain_entry")
    op.drop_index("ix_one_time_secret_expires", table_name="one_time_secret")
    op.drop_table("one_time_secret")
