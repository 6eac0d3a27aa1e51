"""The console scripts `cpo` and `cpo-sim` run as an operator runs them: subprocesses with
their own working directory (no stray .env), no CPO_* settings but the test's, bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.helpers.databases import database_url, free_port

BIN = Path(sys.executable).parent
BANNER = "CPO platform on "


def environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its CPO_* settings, with the test's; the peers of
    tests listen on loopback, which only CPO_OCPI_ALLOW_PRIVATE_PEERS lets the platform call."""
    own = {k: v for k, v in os.environ.items() if not k.startswith("CPO_")}
    return own | {"CPO_OCPI_ALLOW_PRIVATE_PEERS": "true"} | env


async def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """Runs a command to its end: exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(env or {}),
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def emsp_simulator_process(
    *args: str,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    """`cpo-sim emsp --port 0 --json` with `args`: the process and what it printed once
    serving; ended with SIGTERM, as a service manager ends it (its exit status is the test's)."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "cpo-sim"),
        "emsp",
        *args,
        "--port",
        "0",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        started = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        yield process, started
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


class CpoServe:
    """`cpo serve` in a process group of its own, as a terminal's foreground job: its output
    is collected line by line, and `interrupt()` is the Ctrl-C a terminal sends the group."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.port = int(env.get("CPO_PORT") or free_port())
        self.env = {
            "CPO_HOST": "127.0.0.1",
            "CPO_PORT": str(self.port),
            "CPO_DATABASE_URL": database_url(directory),
        } | env
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._lines: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    async def start(self) -> Self:
        self.process = await asyncio.create_subprocess_exec(
            str(BIN / "cpo"),
            "serve",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment(self.env),
            cwd=self.directory,
            start_new_session=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read("stdout", self.process.stdout, self.stdout)),
            asyncio.create_task(self._read("stderr", self.process.stderr, self.stderr)),
        ]
        return self

    async def _read(self, name: str, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := (await stream.readline()).decode():
            into.append(line)
            await self._lines.put((name, line))
        await self._lines.put((name, ""))

    async def line(self, text: str, stream: str = "stdout", timeout: float = 60) -> str:
        """Waits for a line of `stream` that holds `text`; fails if the process closes its
        streams first."""
        ended = set()
        async with asyncio.timeout(timeout):
            while True:
                name, line = await self._lines.get()
                if not line:
                    ended.add(name)
                    assert len(ended) < 2, f"cpo serve ended without {text!r}: {self.output}"
                elif name == stream and text in line:
                    return line

    async def listening(self) -> None:
        """The banner is printed once the port is bound and listening."""
        await self.line(BANNER)

    async def interrupt(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)

    async def wait(self, timeout: float = 60) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.wait_for(asyncio.gather(*self._readers), timeout)
        return code

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await self.wait(30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for reader in self._readers:
            reader.cancel()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
