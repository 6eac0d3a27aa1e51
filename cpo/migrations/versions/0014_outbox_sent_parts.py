"""outbox rows remember what an earlier send delivered of their parts; the party's copies of
single EVSEs (delivered rows of kind "evse", written per send) are gone

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_parts", sa.JSON(), nullable=True))
    op.execute("DELETE FROM delivered WHERE kind = 'evse'")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_parts")
