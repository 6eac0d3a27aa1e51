"""The console over plain HTTP against the real platform: logins and their cookies, CSRF and
Origin checks, roles, expiry, and every class of bad input a browser can send."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update

from cpo.console import accounts
from cpo.console.accounts import ConsoleLogin
from csms import clock
from tests.helpers.browser import PASSWORD, add_user, client, events, hidden, log_in, logged_in
from tests.helpers.platform import Platform, online

WRONG = "Wrong user name or password."


async def test_a_login_gets_an_httponly_lax_cookie_for_the_console_only(
    platform: Platform,
) -> None:
    await add_user(platform, "alice", "operator")
    async with client(platform) as http:
        answer = await log_in(http, "Alice")  # names are not case-sensitive
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/stations"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("cpo_console=")
        )
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path=/console", "samesite=lax"} <= attributes
        assert "secure" not in attributes  # plain http: a Secure cookie would not come back
        page = await http.get("/console/")
        assert (page.status_code, page.headers["location"]) == (303, "/console/stations")
    # Behind a proxy that terminates TLS (X-Forwarded-Proto from an allowed address), the
    # cookies are Secure: a browser sends them back over https only (httpx, on http, would
    # not, so the form's cookie goes back by hand).
    async with client(platform) as http:
        https = {"x-forwarded-proto": "https"}
        form = await http.get("/console/", headers=https)
        set_form = form.headers["set-cookie"]
        assert "secure" in set_form.lower()
        answer = await http.post(
            "/console/login",
            data={"csrf_token": hidden(form.text), "username": "alice", "password": PASSWORD},
            headers=https | {"cookie": set_form.split(";")[0]},
        )
        assert answer.status_code == 303
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("cpo_console=")
        )
        assert "secure" in cookie.lower()


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer_then_a_wait(
    platform: Platform,
) -> None:
    await add_user(platform, "bob", "viewer")
    async with client(platform) as http:
        for name, password in [("bob", "not-his-password"), ("nobody", PASSWORD)]:
            answer = await log_in(http, name, password)
            assert answer.status_code == 401
            assert WRONG in answer.text
            assert "cpo_console=" not in (answer.headers.get("set-cookie") or "")
        for _ in range(5):  # five failures of one name from one address are free; a sixth
            assert (await log_in(http, "bob", "still wrong")).status_code == 401
        held = await log_in(http, "bob", PASSWORD)  # holds it off a second: even the right one
        assert held.status_code == 429
        assert "Too many failed logins: try again in" in held.text
        # Another name from the same address is not held (only 20 failures of an address are).
        await add_user(platform, "carol", "viewer")
        assert (await log_in(http, "carol")).status_code == 303


async def test_a_post_without_the_right_csrf_token_or_from_another_origin_is_403(
    platform: Platform,
) -> None:
    await add_user(platform, "oscar", "operator")
    await platform.add_station("CP-CSRF")
    async with client(platform) as http:
        token = await logged_in(http, "oscar")
        reset = "/console/stations/CP-CSRF/commands/reset"
        other = token[:-1] + ("1" if token[-1] != "1" else "2")  # one character off
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": other}):
            answer = await http.post(reset, data=data)
            assert answer.status_code == 403, data
            assert "security token" in answer.text
        for origin in ("https://evil.example", "null"):
            answer = await http.post(reset, data={"csrf_token": token}, headers={"origin": origin})
            assert answer.status_code == 403
        answer = await http.post(
            reset, data={"csrf_token": token}, headers={"referer": "https://evil.example/x"}
        )
        assert answer.status_code == 403
        # The token in htmx's header, from our own origin: taken (the charger is offline).
        answer = await http.post(
            reset,
            data={},
            headers={"x-csrf-token": token, "origin": platform.url, "hx-request": "true"},
        )
        assert answer.status_code == 200
        assert "The charger is offline: nothing was sent." in answer.text
        # Logging out is a POST like the others.
        assert (await http.post("/console/logout", data={})).status_code == 403
        assert (await http.get("/console/stations")).status_code == 200
        out = await http.post("/console/logout", data={"csrf_token": token})
        assert (out.status_code, out.headers["location"]) == (303, "/console/")
        assert (await http.get("/console/stations")).status_code == 303
    # The login form's own token: a POST without the form's cookie is not taken.
    async with client(platform) as stranger:
        answer = await stranger.post(
            "/console/login",
            data={"csrf_token": "x", "username": "oscar", "password": PASSWORD},
        )
        assert answer.status_code == 403
        assert "cpo_console=" not in (answer.headers.get("set-cookie") or "")


async def test_a_viewer_sees_pages_but_every_action_is_403(platform: Platform) -> None:
    await add_user(platform, "vera", "viewer")
    await add_user(platform, "ada", "admin")
    sim = await online(platform, "CP-ROLES", "1.6")
    async with client(platform) as http:
        token = await logged_in(http, "vera")
        page = await http.get("/console/stations/CP-ROLES")
        assert page.status_code == 200
        assert "/commands/" not in page.text
        for name, data in [("reset", {}), ("unlock", {"evse_id": "1"})]:
            answer = await http.post(
                f"/console/stations/CP-ROLES/commands/{name}", data={"csrf_token": token} | data
            )
            assert answer.status_code == 403
            assert "cannot act" in answer.text
        assert (await http.get("/console/users")).status_code == 403
    assert "Reset" not in [action for action, _ in sim.received_calls]
    async with client(platform) as http:
        await logged_in(http, "ada")
        users = await http.get("/console/users")
        assert users.status_code == 200
        assert "vera" in users.text and "ada" in users.text
    await sim.close()


async def _age(platform: Platform, **back: timedelta) -> None:
    """Moves every login's times back, as if that much time had passed."""
    now = clock.now()
    values = {column: now - by for column, by in back.items()}
    async with platform.state.console.database.begin() as session:
        await session.execute(update(ConsoleLogin).values(**values))


async def test_a_login_ends_after_its_idle_time_and_after_its_longest(
    tmp_path: Path,
) -> None:
    platform = await Platform(
        tmp_path, console_session_minutes=30, console_session_max_hours=8
    ).start()
    try:
        await add_user(platform, "ida", "operator")
        async with client(platform) as http:
            await logged_in(http, "ida")
            await _age(platform, seen_at=timedelta(minutes=29))
            assert (await http.get("/console/sessions")).status_code == 200  # and noted
            await _age(platform, seen_at=timedelta(minutes=31))
            answer = await http.get("/console/sessions?part=rows")
            assert answer.status_code == 303
            assert (
                answer.headers["location"] == "/console/?next=%2Fconsole%2Fsessions%3Fpart%3Drows"
            )
            # Gone from the database, not only refused.
            assert (await http.get("/console/sessions")).status_code == 303
            form = await http.get(answer.headers["location"])
            assert 'name="next" value="/console/sessions?part=rows"' in form.text

        async with client(platform) as http:
            await logged_in(http, "ida")
            await _age(platform, created_at=timedelta(hours=8, minutes=1))
            assert (await http.get("/console/stations")).status_code == 303
            # htmx is told where to go instead of a page to swap in.
            answer = await http.get("/console/stations?part=rows", headers={"hx-request": "true"})
            assert (answer.status_code, answer.headers["hx-redirect"]) == (401, "/console/")
            assert (await http.get("/console/events")).status_code == 401
    finally:
        await platform.stop()


async def test_removing_a_user_ends_their_logins(platform: Platform) -> None:
    await add_user(platform, "rita", "operator")
    async with client(platform) as http:
        await logged_in(http, "rita")
        assert (await http.get("/console/stations")).status_code == 200
        assert await accounts.remove_user(platform.state.console.database, "rita") == 1
        assert (await http.get("/console/stations")).status_code == 303
        # Added again with the same name, the old cookie is still nothing.
        await add_user(platform, "rita", "admin")
        assert (await http.get("/console/stations")).status_code == 303


async def test_bad_login_input_gets_its_message_next_to_the_field(platform: Platform) -> None:
    await add_user(platform, "dora", "viewer")
    async with client(platform) as http:
        form = await http.get("/console/")
        token = hidden(form.text)

        async def attempt(data: dict[str, str] | bytes, **kw: str) -> httpx.Response:
            if isinstance(data, dict):
                return await http.post("/console/login", data={"csrf_token": token} | data)
            return await http.post("/console/login", content=data, headers=kw)

        cases: list[tuple[dict[str, str], int, str, str]] = [
            (
                {"username": "", "password": PASSWORD},
                400,
                "username-error",
                "Enter your user name.",
            ),
            (
                {"username": "   ", "password": PASSWORD},
                400,
                "username-error",
                "Enter your user name.",
            ),
            ({"username": "d" * 65, "password": PASSWORD}, 400, "username-error", "at most 64"),
            ({"username": "dora", "password": ""}, 400, "password-error", "Enter your password."),
            ({"username": "dora", "password": "p" * 5000}, 400, "password-error", "at most 1024"),
            ({"username": "dora\x00", "password": PASSWORD}, 401, "form-error", WRONG),
            ({"username": "<script>", "password": PASSWORD}, 401, "form-error", WRONG),
        ]
        for data, status, field, message in cases:
            answer = await attempt(data)
            assert answer.status_code == status, (data, answer.text)
            assert f'id="{field}">' in answer.text and message in answer.text, data
            assert "<script>" not in answer.text  # what was typed comes back escaped
        # Forms the console cannot read at all: said on the form, nothing half done.
        huge = await attempt(
            b"username=dora&password=" + b"p" * (70 * 1024),
            **{"content-type": "application/x-www-form-urlencoded"},
        )
        assert huge.status_code == 413 and "larger than 64 KiB" in huge.text
        beyond = await attempt(
            b"p" * (2 << 20), **{"content-type": "application/x-www-form-urlencoded"}
        )
        assert beyond.status_code == 413 and "larger than 64 KiB" in beyond.text
        not_utf8 = await attempt(
            b"username=\xff\xfe&password=x", **{"content-type": "application/x-www-form-urlencoded"}
        )
        assert not_utf8.status_code == 400 and "not UTF-8" in not_utf8.text
        as_json = await attempt(b'{"username": "dora"}', **{"content-type": "application/json"})
        assert as_json.status_code == 415
        # None of that counted as a failed password: the right one still goes in at once.
        assert (await log_in(http, "dora")).status_code == 303


async def test_a_garbage_or_forged_cookie_is_no_login(platform: Platform) -> None:
    await add_user(platform, "gus", "admin")
    async with client(platform) as http:
        await logged_in(http, "gus")
        real = http.cookies["cpo_console"]
    secret, _, signature = real.rpartition(".")
    for value in (
        "garbage",
        "",
        "x" * 4000,
        f"{secret}.AAAA{signature[4:]}",  # signed by someone else
        f"{secret[:-2]}zz.{signature}",
        "%C3%A9t%C3%A9",
    ):
        async with client(platform) as http:
            http.cookies.set("cpo_console", value, domain="127.0.0.1", path="/console")
            page = await http.get("/console/stations")
            assert page.status_code == 303, value
            assert (await http.get("/console/")).status_code == 200  # the login form
            assert (
                await http.post("/console/stations/X/commands/reset", data={})
            ).status_code == 303


async def test_a_command_with_bad_arguments_is_not_sent_and_says_why(platform: Platform) -> None:
    await add_user(platform, "otto", "operator")
    sim = await online(platform, "CP-BAD", "2.0.1")
    async with client(platform) as http:
        token = await logged_in(http, "otto")
        base = "/console/stations/CP-BAD/commands"
        cases = [
            ("unlock", {"evse_id": "-1"}, "evse_id", "greater than or equal to 1"),
            ("unlock", {"evse_id": "one"}, "evse_id", "valid integer"),
            ("unlock", {"evse_id": "99"}, "", "has no EVSE 99"),
            ("remote_start", {"id_token": "T" * 37}, "id_token", "at most 36 characters"),
            ("remote_start", {}, "id_token", "Field required"),
            ("remote_stop", {"transaction_id": str(2**70)}, "transaction_id", "less than or equal"),
            ("change_availability", {"operative": "perhaps"}, "operative", "valid boolean"),
            ("reset", {"type": "Now!"}, "type", "Input should be"),
            ("reset", {"surprise": "1"}, "surprise", "Extra inputs"),
            ("get_configuration", {"keys": ",".join(["K"] * 101)}, "keys", "at most 100"),
        ]
        for name, data, field, message in cases:
            answer = await http.post(f"{base}/{name}", data={"csrf_token": token} | data)
            assert message in answer.text, (name, data, answer.text)
            if field:
                assert answer.status_code == 422 and f"<b>{field}</b>" in answer.text
            else:  # judged by the command port: the charger has no such EVSE
                assert answer.status_code == 200 and "does not fit this charger" in answer.text
        assert [
            a
            for a, _ in sim.received_calls
            if a in ("UnlockConnector", "RequestStartTransaction", "Reset")
        ] == []
        answer = await http.post(f"{base}/self_destruct", data={"csrf_token": token})
        assert answer.status_code == 404
        answer = await http.post(
            "/console/stations/NOPE/commands/reset", data={"csrf_token": token}
        )
        assert answer.status_code == 404
        for station in ("CP%00BAD", "C" * 49):
            assert (await http.get(f"/console/stations/{station}")).status_code == 404
        assert (await http.get("/console/stations?q=%00&status=x&online=maybe")).status_code == 200
        nul = await http.get("/console/messages?station=%00")
        assert nul.status_code == 400 and "printable characters" in nul.text
    await sim.close()


async def test_the_station_page_clears_the_cache_asks_for_status_and_changes_the_password(
    platform: Platform,
) -> None:
    await add_user(platform, "olga", "operator")
    sim = await online(platform, "CP-CACHE", "2.0.1")
    async with client(platform) as http:
        token = await logged_in(http, "olga")
        page = await http.get("/console/stations/CP-CACHE")
        for name in (
            "clear_cache",
            "get_transaction_status",
            "set_password",
            "get_base_report",
            "set_display_message",
            "clear_display_message",
            "update_firmware",
            "publish_firmware",
            "unpublish_firmware",
            "get_composite_schedule",
            "clear_charging_profile",
        ):
            assert f"/commands/{name}" in page.text
        base = "/console/stations/CP-CACHE/commands"
        cleared = await http.post(f"{base}/clear_cache", data={"csrf_token": token})
        assert cleared.status_code == 200 and "Accepted" in cleared.text
        asked = await http.post(f"{base}/get_transaction_status", data={"csrf_token": token})
        assert asked.status_code == 200 and "messages_in_queue" in asked.text
        one = {"csrf_token": token, "evse_id": "1", "connector_id": "1", "operative": "false"}
        assert (await http.post(f"{base}/change_availability", data=one)).status_code == 200
        shown = {"csrf_token": token, "id": "3", "content": "Welcome", "priority": "InFront"}
        assert (await http.post(f"{base}/set_display_message", data=shown)).status_code == 200
        assert sim.display_messages[3]["message"]["content"] == "Welcome"
        changed = await http.post(f"{base}/set_password", data={"csrf_token": token})
        assert changed.status_code == 200 and sim.password in changed.text  # said once
    calls = dict(sim.received_calls)
    assert "ClearCache" in calls and calls["ChangeAvailability"]["evse"] == {
        "id": 1,
        "connectorId": 1,
    }
    await sim.close()


async def test_any_command_goes_from_its_name_and_json_arguments(platform: Platform) -> None:
    """Every command of the command port has a console control: the usual ones their own
    form, all of them the form that takes a name and the admin API's JSON."""
    await add_user(platform, "omar", "operator")
    sim = await online(platform, "CP-ANY", "2.0.1")
    async with client(platform) as http:
        token = await logged_in(http, "omar")
        page = await http.get("/console/stations/CP-ANY")
        for name in ("set_variable_monitoring", "send_local_list", "trigger_message", "reserve"):
            assert f'<option value="{name}">' in page.text
        any_command = "/console/stations/CP-ANY/commands/any"

        async def send(command: str, arguments: str) -> httpx.Response:
            form = {"csrf_token": token, "command": command, "arguments": arguments}
            return await http.post(any_command, data=form)

        sent = await send("set_monitoring_level", '{"severity": 4}')
        assert sent.status_code == 200 and "Accepted" in sent.text
        assert dict(sim.received_calls)["SetMonitoringLevel"] == {"severity": 4}
        for arguments, problem in (
            ("{not json", "not JSON"),
            ("[1, 2]", "a JSON object"),
            ('{"severity": 12}', "<b>severity</b>"),
            ('{"severity": 4, "extra": 1}', "<b>extra</b>"),
        ):
            refused = await send("set_monitoring_level", arguments)
            assert refused.status_code == 422 and problem in refused.text, refused.text
        assert (await send("self_destruct", "{}")).status_code == 404
        assert [a for a, _ in sim.received_calls].count("SetMonitoringLevel") == 1
        no_token = {"command": "set_monitoring_level", "arguments": '{"severity": 1}'}
        assert (await http.post(any_command, data=no_token)).status_code == 403
    await sim.close()


async def test_the_live_stream_tells_a_change_made_on_another_node(tmp_path: Path) -> None:
    """Two nodes on one database: a page open on one is told of a charger on the other."""
    first = await Platform(tmp_path).start()
    second = await Platform(tmp_path, database_url=first.settings.database_url).start()
    try:
        await add_user(first, "nina", "viewer")
        sim = await online(first, "CP-ELSEWHERE", "1.6")
        # A login made on the first node is taken by the second: one secret, one table.
        async with client(first) as on_first, client(second) as http:
            await logged_in(on_first, "nina")
            http.cookies = on_first.cookies
            async with events(http) as lines:
                await sim.status(2, "Faulted")
                async with asyncio.timeout(10):
                    async for line in lines:
                        if line.startswith("data:") and "CP-ELSEWHERE" in line:
                            break
            page = await http.get("/console/stations?part=rows")
            assert page.status_code == 200 and "Faulted" in page.text
        await sim.close()
    finally:
        await second.stop()
        await first.stop()
