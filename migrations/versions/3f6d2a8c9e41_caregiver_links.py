"""Caregiver links: a second personal link per episode, and entries reported by a caregiver.

`episode.caregiver_token_hash` holds the hash of the caregiver's live link beside the
patient's (`token_hash`), each issued and revoked on its own; a retired caregiver link goes to
`retired_link` as a patient's does. The pain entry source CHECK constraint gains "caregiver".

Downgrading stores a caregiver's entries as the patient's (what the older vocabulary says of
a report through a personal link) and forgets live caregiver links: they stop working.

Revision ID: 3f6d2a8c9e41
Revises: 55a93bd09843
Create Date: 2026-12-02 17:40:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "3f6d2a8c9e41"
down_revision = "55a93bd09843"
branch_labels = None
depends_on = None

# The vocabulary before and at this revision (recovery/clinical/vocabulary.py, EntrySource).
OLD_SOURCES = ("patient", "staff")
SOURCES = OLD_SOURCES + ("caregiver",)


def _one_of(column, codes):
    return f"{column} IN ({', '.join(repr(code) for code in sorted(codes))})"


def _source_check(sources):
    # SQLite rebuilds `pain_entry` to change a CHECK, with foreign keys off (migrations/env.py):
    # alerts point at its rows.
    with op.batch_alter_table("pain_entry", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pain_entry_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_pain_entry_source"), _one_of("source", sources))


def upgrade():
    # Plain ALTER TABLE: a batch copy of `episode` would drop a table that others point to.
    op.add_column("episode", sa.Column("caregiver_token_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "episode",
        sa.Column("caregiver_token_issued_dt", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "uq_episode_caregiver_token_hash", "episode", ["caregiver_token_hash"], unique=True
    )
    _source_check(SOURCES)


def downgrade():
    pain_entry = sa.table("pain_entry", sa.column("source", sa.String))
    op.execute(
        pain_entry.update().where(pain_entry.c.source == "caregiver").values(source="patient")
    )
    _source_check(OLD_SOURCES)
    op.drop_index("uq_episode_caregiver_token_hash", table_name="episode")
    op.drop_column("episode", "caregiver_token_issued_dt")
    op.drop_column("episode", "caregiver_token_hash")
