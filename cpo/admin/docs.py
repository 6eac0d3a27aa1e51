"""Swagger UI at /admin/api/docs: the swagger-ui-bundle package's files, served by the platform
(nothing from a CDN), on the admin API's OpenAPI document.

The page is static and needs no token; the calls it makes do (Swagger UI's Authorize button).
Its Content-Security-Policy lets it load nothing but this server's files.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route
from swagger_ui_bundle import swagger_ui_path

ASSETS = Path(swagger_ui_path)
# The package's files the page uses, and no other (its own index.html shows a demo API).
SERVED = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CPO platform admin API</title>
<link rel="stylesheet" href="{base}/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{document}"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script src="{base}/start.js"></script>
</body>
</html>
"""
# No validatorUrl: Swagger UI would otherwise show a badge fetched from its makers' server.
START = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff"}


async def page(request: Request) -> Response:
    # Paths from the one the page was asked at: right under any mount or proxy prefix.
    base = request.url.path.rstrip("/")
    document = base.removesuffix("/docs") + "/openapi.json"
    return Response(
        PAGE.format(base=html.escape(base), document=html.escape(document)),
        media_type="text/html; charset=utf-8",
        headers=HEADERS,
    )


async def start(request: Request) -> Response:
    return Response(START, media_type="text/javascript; charset=utf-8", headers=HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SERVED:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        ASSETS / name,
        media_type=SERVED[name],
        headers=HEADERS | {"Cache-Control": "public, max-age=86400"},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/docs", page, methods=["GET"]),
        Route("/docs/start.js", start, methods=["GET"]),
        Route("/docs/{name}", asset, methods=["GET"]),
    ]
