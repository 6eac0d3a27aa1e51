"""A file uploaded from a console page: a multipart/form-data body read within a bound (the one
the admin API has for the same JSON), its form fields and its one file."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from cpo.body_limit import BodyTooLarge
from cpo.console.forms import FIELDS_MAX, FORM_MAX, BadForm

FILE_FIELD = "file"


@dataclass(frozen=True)
class Upload:
    fields: dict[str, str]  # the form's other fields (the CSRF token among them)
    content: bytes | None  # None: no file was chosen
    filename: str


class _TooLarge(Exception):
    pass


def too_large(limit: int) -> BadForm:
    return BadForm(
        413, f"The file is larger than {limit // 1024} KiB, the most an upload takes here."
    )


async def read_upload(request: Request, limit: int) -> Upload:
    """The upload; BadForm when it is not multipart/form-data, cannot be read, holds more
    than one file, or is larger than `limit` bytes (counted as it arrives, never read whole
    first)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise BadForm(415, "Send the file as multipart/form-data, as the page's form does.")
    taken = 0

    async def bounded() -> AsyncGenerator[bytes, None]:
        nonlocal taken
        try:
            async for chunk in request.stream():
                taken += len(chunk)
                if taken > limit:
                    raise _TooLarge
                yield chunk
        except BodyTooLarge:  # the platform's own bound on bodies (cpo.body_limit)
            raise _TooLarge from None

    parser = MultiPartParser(
        request.headers,
        bounded(),
        max_files=1,
        max_fields=FIELDS_MAX,
        max_part_size=FORM_MAX,
    )
    try:
        form = await parser.parse()
    except _TooLarge:
        raise too_large(limit) from None
    except MultiPartException as e:
        raise BadForm(400, f"The upload cannot be read: {e.message}") from None
    try:
        fields: dict[str, str] = {}
        file: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, value)
            elif name == FILE_FIELD and file is None:
                file = value
        if file is None or not file.filename:
            return Upload(fields, None, "")
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise too_large(limit)
        return Upload(fields, content, file.filename[:200])
    finally:
        await form.close()
