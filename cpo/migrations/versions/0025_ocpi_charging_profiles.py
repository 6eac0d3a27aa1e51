"""ocpi charging profiles: eMSP requests with the result owed, and per-session state

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import csms.models

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ocpi_charging_profile_requests",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response_url", sa.Text(), nullable=False),
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("ocpp_evse_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=True),
        sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_at", csms.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", csms.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ocpi_charging_profile_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ocpi_charging_profile_requests_party_id"), ["party_id"], unique=False
        )
    op.create_table(
        "ocpi_session_profiles",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("ocpi_session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("ocpp_evse_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("ever_set", sa.Boolean(), nullable=False),
        sa.Column("last_set_at", csms.models.UTCDateTime(), nullable=True),
        sa.Column("last_get_at", csms.models.UTCDateTime(), nullable=True),
        sa.Column("last_clear_at", csms.models.UTCDateTime(), nullable=True),
        sa.Column("active", sa.JSON(), nullable=True),
        sa.Column("active_at", csms.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id"),
    )
    with op.batch_alter_table("ocpi_session_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ocpi_session_profiles_station_id"), ["station_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ocpi_session_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_session_profiles_station_id"))
    op.drop_table("ocpi_session_profiles")
    with op.batch_alter_table("ocpi_charging_profile_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_charging_profile_requests_party_id"))
    op.drop_table("ocpi_charging_profile_requests")
