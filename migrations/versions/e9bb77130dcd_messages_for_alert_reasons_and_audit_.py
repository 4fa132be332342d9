"""Messages for alert reasons and audit details, shown in the reader's language.

Revision ID: e9bb77130dcd
Revises: 9855f98bfdaa
Create Date: 2026-11-27 09:39:04.150281

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e9bb77130dcd"
down_revision = "9855f98bfdaa"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_message", sa.JSON(), nullable=True))

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail_message", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("detail_message")

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("reason_message")
