"""the admin token is kept as its SHA-256, never in clear

Revision ID: 0010
Revises: 0009
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

META = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.String))
CLEAR = "admin_token"
HASHED = "cpo.admin_token.sha256"  # cpo.admin.token.KEY, as of this revision


def upgrade() -> None:
    """A token generated before this revision keeps working: its hash replaces it."""
    conn = op.get_bind()
    clear = conn.execute(sa.select(META.c.value).where(META.c.key == CLEAR)).scalar()
    if clear is not None:
        conn.execute(sa.delete(META).where(META.c.key == HASHED))
        conn.execute(
            sa.insert(META).values(key=HASHED, value=hashlib.sha256(clear.encode()).hexdigest())
        )
        conn.execute(sa.delete(META).where(META.c.key == CLEAR))


def downgrade() -> None:
    # A hash cannot be turned back into the token: the next start generates a new one.
    op.get_bind().execute(sa.delete(META).where(META.c.key == HASHED))
