"""each eMSP command keeps which of our CPO roles its result is from: the owner of the Location
it addressed (several party ids in one deployment)

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ocpi_commands") as batch:
        batch.add_column(sa.Column("from_country_code", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("from_party_id", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ocpi_commands") as batch:
        batch.drop_column("from_party_id")
        batch.drop_column("from_country_code")
