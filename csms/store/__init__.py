"""State changes of stations, connectors and transactions, each written with its domain event in one database transaction.

`Store` is composed of one part per concern, all on `StoreBase` (the databases, the group
writer, the event feed and each charger's data budget):

- `stations`: logins, connects, boots, disconnects, signs of life, station notifications;
- `device_model`: the 2.0.1 device model a charger reports and answers;
- `charging_profiles`: the charging profiles a charger should hold;
- `connectors`: status reports, discovered connectors, availability;
- `passwords`: a new password offered to a charger, then refused or taken;
- `uploads`: files a charger is asked to upload;
- `authorization`: Authorize requests, recorded as events;
- `transactions`: 1.6 Start/Stop and 2.0.1 TransactionEvent, and transactions never stopped;
- `meter_values`: MeterValues, written in groups by `samples`' batch.
"""

from __future__ import annotations

from csms.store.authorization import Authorizations
from csms.store.base import DATA_BYTES_PER_MINUTE, StoreBase
from csms.store.charging_profiles import ChargingProfiles
from csms.store.connectors import Connectors, StatusReport, neutral_status
from csms.store.device_model import DeviceModel
from csms.store.meter_values import MeterValues
from csms.store.passwords import Passwords
from csms.store.samples import MeterValuesWrite
from csms.store.stations import BootInfo, Stations
from csms.store.transactions import TransactionFacts, Transactions
from csms.store.uploads import Uploads

__all__ = [
    "DATA_BYTES_PER_MINUTE",
    "BootInfo",
    "MeterValuesWrite",
    "StatusReport",
    "Store",
    "StoreBase",
    "TransactionFacts",
    "neutral_status",
]


class Store(
    Stations,
    DeviceModel,
    ChargingProfiles,
    Connectors,
    Passwords,
    Uploads,
    Authorizations,
    Transactions,
    MeterValues,
):
    """The csms's writes. Every method is one database transaction: state and event together."""
