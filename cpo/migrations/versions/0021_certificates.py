"""certificates: those the platform issued to chargers, and those chargers say they hold

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from csms.models import BigId, UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")


def upgrade() -> None:
    op.create_table(
        "issued_certificates",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_issued_certificates_station_id", "issued_certificates", ["station_id"])
    op.create_index("ix_issued_certificates_serial", "issued_certificates", ["serial"], unique=True)
    op.create_index("ix_issued_certificates_not_after", "issued_certificates", ["not_after"])
    op.create_table(
        "installed_certificates",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("certificate_type", sa.String(length=32), nullable=False),
        sa.Column("hash_algorithm", sa.String(length=8), nullable=False),
        sa.Column("issuer_name_hash", sa.String(length=128), nullable=False),
        sa.Column("issuer_key_hash", sa.String(length=128), nullable=False),
        sa.Column("serial_number", sa.String(length=40), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("station_id", *HASH),
    )
    op.create_index(
        "ix_installed_certificates_station_id", "installed_certificates", ["station_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_installed_certificates_station_id", "installed_certificates")
    op.drop_table("installed_certificates")
    op.drop_index("ix_issued_certificates_not_after", "issued_certificates")
    op.drop_index("ix_issued_certificates_serial", "issued_certificates")
    op.drop_index("ix_issued_certificates_station_id", "issued_certificates")
    op.drop_table("issued_certificates")
