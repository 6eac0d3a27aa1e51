"""The Parties pages over HTTP against the real platform and the eMSP simulator: each party's
state, version, roles, last contact and pushes per module; the actions an operator takes
(retry, resync, suspend, resume: the admin API's own) and a viewer cannot (403); one party's
page with its OCPI request log."""

from __future__ import annotations

from cpo.push.tables import PendingPush
from csms import clock
from simulators.emsp import EmspSimulator
from tests.helpers.browser import add_user, client, logged_in, rows
from tests.helpers.ocpi import invite, party, register_with
from tests.helpers.platform import Platform


async def test_an_operator_acts_on_a_party_and_a_viewer_only_looks(platform: Platform) -> None:
    await add_user(platform, "opal", "operator")
    await add_user(platform, "vic", "viewer")
    async with EmspSimulator(party_id="EMS") as emsp:
        party_id = (await register_with(platform, emsp))["id"]
        key = str(party_id)
        # A push the party refused for good, as the deliverer records one.
        async with platform.state.console.database.begin() as session:
            session.add(
                PendingPush(
                    party_id=party_id,
                    kind="tariff",
                    object_id="GONE",
                    due_at=clock.now(),
                    failed=True,
                    attempts=3,
                    last_error="2001: unknown tariff",
                )
            )
        async with client(platform) as http:
            token = await logged_in(http, "vic")
            page = (await http.get("/console/parties")).text
            _, name, state, version, roles, contact, pushes = rows(page, "party")[key]
            assert (name, state, version) == ("eMSP Simulator", "REGISTERED", "2.2.1")
            assert "NL-EMS EMSP" in roles and contact.endswith(" ago")
            assert "tariffs 1 failed" in pushes
            assert "data-action" not in page
            for action in ("retry", "resync", "suspend", "resume"):
                answer = await http.post(
                    f"/console/parties/{party_id}/{action}", data={"csrf_token": token}
                )
                assert answer.status_code == 403 and "cannot act" in answer.text
            one = (await http.get(f"/console/parties/{party_id}")).text
            assert "data-action" not in one and "2001: unknown tariff" in one
            # The registration's requests, newest first, both ways.
            log = rows(one, "request")
            assert log and list(map(int, log)) == sorted(map(int, log), reverse=True)
            assert any("/versions" in cells[2] for cells in log.values())
            assert {cells[1] for cells in log.values()} == {"to the party", "from the party"}
        assert (await party(platform, party_id))["state"] == "REGISTERED"

        async with client(platform) as http:
            token = await logged_in(http, "opal")
            page = (await http.get("/console/parties")).text
            assert 'data-action="suspend"' in page and 'data-action="resume"' not in page
            htmx = {"hx-request": "true", "x-csrf-token": token}
            answer = await http.post(f"/console/parties/{party_id}/retry", headers=htmx)
            assert answer.status_code == 200
            assert answer.text.startswith(f'<tr data-party="{party_id}">')
            assert "1 refused push due again." in answer.text
            answer = await http.post(f"/console/parties/{party_id}/resync", headers=htmx)
            assert "Every Location and Tariff marked to be sent again" in answer.text

            # Without htmx, a plain form: the whole page answers.
            answer = await http.post(
                f"/console/parties/{party_id}/suspend", data={"csrf_token": token}
            )
            assert answer.status_code == 200 and "Suspended: no traffic" in answer.text
            assert rows(answer.text, "party")[key][2] == "SUSPENDED"
            assert 'data-action="resume"' in answer.text
            assert (await party(platform, party_id))["state"] == "SUSPENDED"
            # An invitation not taken up yet: nothing to act on, and the page says so.
            invited, _ = await invite(platform)
            again = await http.post(
                f"/console/parties/{invited}/retry",
                data={"csrf_token": token},
                headers={"hx-request": "true"},
            )
            assert again.status_code == 409
            assert f"Not done: party {invited} is not registered (it is INVITED)." in again.text
            answer = await http.post(
                f"/console/parties/{party_id}/resume",
                data={"csrf_token": token, "view": "page"},
            )
            assert answer.status_code == 200 and "Resumed" in answer.text
            assert '<h2 id="requests">OCPI requests</h2>' in answer.text  # the party's page
            assert (await party(platform, party_id))["state"] == "REGISTERED"

            # Refused whatever the body without the login's token; what names nothing is 404.
            forged = await http.post(f"/console/parties/{party_id}/suspend", data={})
            assert forged.status_code == 403
            assert (await party(platform, party_id))["state"] == "REGISTERED"
            for path in (
                "/console/parties/999/suspend",
                f"/console/parties/{2**70}/suspend",
                f"/console/parties/{party_id}/explode",
            ):
                answer = await http.post(path, data={"csrf_token": token})
                assert answer.status_code == 404, path
            for path in ("/console/parties/999", f"/console/parties/{2**70}"):
                assert (await http.get(path)).status_code == 404
            older = await http.get(f"/console/parties/{party_id}", params={"before": "1"})
            assert rows(older.text, "request") == {} and "No request logged before" in older.text
            odd = await http.get(f"/console/parties/{party_id}", params={"before": "x" * 50})
            assert odd.status_code == 200 and "not a place in the log" in odd.text
            assert rows(odd.text, "request")
