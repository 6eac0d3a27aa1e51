"""A Location's power limit as the operator set it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from csms.models import BigId, UTCDateTime


class SitePowerLimit(SQLModel, table=True):
    __tablename__ = "site_power_limits"

    location_id: int = Field(
        sa_column=Column(BigId, primary_key=True, autoincrement=False)
    )  # locations.id
    limit_w: int
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
