"""Emergency severity: a red flag with chest pain or breathlessness (clinical rules version 2).

The alert severity CHECK constraint gains "emergency" (docs/clinical.md, "Alert rules").

Revision ID: 4b7e2c9d1a60
Revises: dd32734b0de3
Create Date: 2026-12-02 07:25:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '4b7e2c9d1a60'
down_revision = 'dd32734b0de3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_alert_severity'), type_='check')
        batch_op.create_check_constraint(
            'severity', "severity IN ('emergency', 'high', 'moderate', 'urgent')"
        )


def downgrade():
    # The old vocabulary has no emergency: such alerts become urgent, as before version 2.
    op.execute("UPDATE alert SET severity = 'urgent' WHERE severity = 'emergency'")
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_alert_severity'), type_='check')
        batch_op.create_check_constraint(
            'severity', "severity IN ('moderate', 'high', 'urgent')"
        )
