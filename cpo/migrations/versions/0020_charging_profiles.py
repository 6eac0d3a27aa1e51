"""the charging profiles each charger should hold: every one it accepted and no clear removed

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from csms.models import BigId, UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charging_profiles",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("station_id", "profile_id"),
    )
    op.create_index("ix_charging_profiles_station_id", "charging_profiles", ["station_id"])


def downgrade() -> None:
    op.drop_index("ix_charging_profiles_station_id", "charging_profiles")
    op.drop_table("charging_profiles")
