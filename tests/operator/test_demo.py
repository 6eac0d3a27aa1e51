"""`make demo` works: the platform as its own process, an eMSP and two chargers, over the wire."""

from __future__ import annotations

import pytest

from simulators import demo


async def test_the_demo_shows_a_started_session_its_updates_and_its_cdr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await demo.run() == 0
    shown = capsys.readouterr().out
    for version in ("1.6", "2.0.1"):
        assert f"OCPP {version} charger connected, boot Accepted" in shown
    assert shown.count("-> START_SESSION, platform answers ACCEPTED") == 2
    assert shown.count("<- PATCH Session") >= 6
    assert shown.count("<- CDR") == 2
    assert "5.5 kWh, 0.5 h, EUR 2.65 excl. VAT / 3.21 incl." in shown
    assert "no conformance problems" in shown
