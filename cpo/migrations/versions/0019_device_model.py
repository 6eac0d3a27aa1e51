"""a 2.0.1 charger's device model as it reported it: one row per variable of each component

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from csms.models import BigId, UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_variables",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("component", sa.String(length=50), nullable=False),
        sa.Column("component_instance", sa.String(length=50), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("variable", sa.String(length=50), nullable=False),
        sa.Column("variable_instance", sa.String(length=50), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("characteristics", sa.JSON(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "station_id",
            "component",
            "component_instance",
            "evse_id",
            "connector_id",
            "variable",
            "variable_instance",
        ),
    )
    op.create_index("ix_device_variables_station_id", "device_variables", ["station_id"])


def downgrade() -> None:
    op.drop_index("ix_device_variables_station_id", "device_variables")
    op.drop_table("device_variables")
