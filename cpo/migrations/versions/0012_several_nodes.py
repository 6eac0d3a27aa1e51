"""several nodes: the connection that holds a station, the node that runs a command, longer
deliverer names (node/part)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("connection_epoch", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("ocpi_commands") as batch:
        batch.add_column(
            sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "claimed_by",
            type_=sqlmodel.sql.sqltypes.AutoString(length=128),
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "claimed_by",
            type_=sqlmodel.sql.sqltypes.AutoString(length=32),
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=128),
            existing_nullable=True,
        )
    with op.batch_alter_table("ocpi_commands") as batch:
        batch.drop_column("node")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("connection_epoch")
