"""The address chargers upload requested files to (GetDiagnostics, GetLog): PUT or POST to
/uploads/{id}/{secret}, the body raw or multipart/form-data with one file.

The slot is checked before a byte of the body is read; the body is bounded while it streams
(CPO_UPLOAD_MAX_BYTES, cpo.body_limit). An unknown slot, a wrong secret, a spent or an
expired one all get the same 404, so that a caller learns nothing of which."""

from __future__ import annotations

import logging

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from cpo.admin.openapi import ID_MAX
from cpo.body_limit import BodyTooLarge
from csms import uploads
from csms.store import Store

log = logging.getLogger("cpo.uploads")

REFUSED = "no such upload slot"


class Uploads:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def receive(self, request: Request) -> Response:
        upload_id: int = request.path_params["upload_id"]
        secret: str = request.path_params["secret"]
        if not 0 < upload_id <= ID_MAX or not await uploads.slot_open(
            self.store.database, upload_id, secret
        ):
            return PlainTextResponse(REFUSED, status_code=404)
        try:
            content, content_type, file_name = await _file(request)
        except BodyTooLarge as e:
            return PlainTextResponse(str(e), status_code=413)
        # Some chargers take the location for a folder and add the file's name to it.
        file_name = file_name or request.path_params.get("name")
        if not await self.store.upload_received(
            upload_id, uploads.secret_hash(secret), content, content_type, file_name
        ):
            return PlainTextResponse(REFUSED, status_code=404)
        log.info("upload %d: %d bytes received", upload_id, len(content))
        return PlainTextResponse("stored\n")


async def _file(request: Request) -> tuple[bytes, str | None, str | None]:
    """The uploaded file's bytes, content type and name (when the upload says them)."""
    content_type = request.headers.get("content-type")
    if content_type and content_type.lower().startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=16) as form:
            files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
            if len(files) != 1:
                raise HTTPException(400, "a multipart upload holds exactly one file")
            upload = files[0]
            return await upload.read(), upload.content_type, upload.filename
    body = bytearray()
    async for chunk in request.stream():  # bounded by cpo.body_limit as it comes
        body += chunk
    return bytes(body), content_type, None
