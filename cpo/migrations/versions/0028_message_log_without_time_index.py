"""the message log loses its index of times: its purge walks ids, and every OCPP frame paid two
index entries for it (ADR 040)

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_message_log_created", table_name="message_log")


def downgrade() -> None:
    op.create_index("ix_message_log_created", "message_log", ["created_at"], unique=False)
