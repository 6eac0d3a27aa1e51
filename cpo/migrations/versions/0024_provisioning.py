"""boot answered Pending while chargers are provisioned: the provisioning set, each charger's
answers to it, and each charger's boot state

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from csms.models import BigId, UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provisioning_keys",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("key", sa.String(length=101), nullable=False),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("station_id", "key"),
    )
    op.create_index("ix_provisioning_keys_station_id", "provisioning_keys", ["station_id"])
    op.create_table(
        "provisioning_results",
        sa.Column("station_id", sa.String(length=48), primary_key=True),
        sa.Column("key", sa.String(length=101), primary_key=True),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "boot_states",
        sa.Column("station_id", sa.String(length=48), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("applied", sa.String(length=64), nullable=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("boot_states")
    op.drop_table("provisioning_results")
    op.drop_index("ix_provisioning_keys_station_id", "provisioning_keys")
    op.drop_table("provisioning_keys")
