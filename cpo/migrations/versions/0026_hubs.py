"""roaming hubs: a hub's own party id, and the parties behind a hub with their connection status

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from csms.models import UTCDateTime

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.add_column(sa.Column("hub_party", sa.String(length=5), nullable=True))
        batch.add_column(sa.Column("hub_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("client_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("client_updated", UTCDateTime(), nullable=True))
        batch.create_index("ix_parties_hub_id", ["hub_id"])


def downgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.drop_index("ix_parties_hub_id")
        batch.drop_column("client_updated")
        batch.drop_column("client_status")
        batch.drop_column("hub_id")
        batch.drop_column("hub_party")
