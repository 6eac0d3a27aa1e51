"""firmware update campaigns: a campaign, its chargers and each charger's history

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from csms.models import BigId, UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "firmware_campaigns",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("retrieve_date", UTCDateTime(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval", sa.Integer(), nullable=True),
        sa.Column("signing_certificate", sa.Text(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempt_interval", sa.Integer(), nullable=False),
    )
    op.create_table(
        "firmware_campaign_stations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("firmware_status", sa.String(length=32), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("campaign_id", "station_id", name="uq_firmware_campaign_station"),
    )
    op.create_index(
        "ix_firmware_campaign_stations_campaign_id", "firmware_campaign_stations", ["campaign_id"]
    )
    op.create_index(
        "ix_firmware_campaign_stations_request", "firmware_campaign_stations", ["request_id"]
    )
    op.create_index(
        "ux_firmware_one_active",
        "firmware_campaign_stations",
        ["station_id"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "firmware_campaign_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_firmware_history_target", "firmware_campaign_history", ["target_id", "id"])


def downgrade() -> None:
    op.drop_table("firmware_campaign_history")
    op.drop_table("firmware_campaign_stations")
    op.drop_table("firmware_campaigns")
