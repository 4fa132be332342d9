"""Staff sessions kept on the server, two-step sign-in, and temporary passwords.

`staff_session` holds one row per sign-in (the browser keeps only its random key, stored here
hashed), so signing out, a password change or turning an account off ends it for whoever holds
the cookie. `recovery_code` holds the hashed single-use codes for a lost phone. `staff_user`
gains its TOTP secret (and the one being set up), the step of the last code accepted, and
whether its password is a temporary one that must be changed.

Existing sessions (cookies holding an account id) stop working at the upgrade: everyone signs
in again once.

Revision ID: a61c4e2f7b93
Revises: 3f6d2a8c9e41
Create Date: 2026-12-03 08:10:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "a61c4e2f7b93"
down_revision = "3f6d2a8c9e41"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("created_dt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_dt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_dt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_dt", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_session_staff_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_staff_session_key_hash")),
    )
    op.create_index(
        op.f("ix_staff_session_staff_user_id"), "staff_session", ["staff_user_id"], unique=False
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_dt", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_user.id"],
            name=op.f("fk_recovery_code_staff_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
        sa.UniqueConstraint("staff_user_id", "code_hash", name="one_code_per_user"),
    )
    op.create_index(
        op.f("ix_recovery_code_staff_user_id"), "recovery_code", ["staff_user_id"], unique=False
    )
    # Plain ALTER TABLE: a batch copy of `staff_user` would drop a table that others point to.
    op.add_column(
        "staff_user",
        sa.Column(
            "must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column("staff_user", sa.Column("totp_secret", sa.String(length=32), nullable=True))
    op.add_column(
        "staff_user", sa.Column("totp_pending_secret", sa.String(length=32), nullable=True)
    )
    op.add_column("staff_user", sa.Column("totp_last_step", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_pending_secret")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("must_change_password")
    op.drop_index(op.f("ix_recovery_code_staff_user_id"), table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_index(op.f("ix_staff_session_staff_user_id"), table_name="staff_session")
    op.drop_table("staff_session")
