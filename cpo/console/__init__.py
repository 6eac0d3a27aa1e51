"""The operator console at /console/: server-rendered pages (Jinja2, htmx), accounts with
roles, live updates over Server-Sent Events, and every action through the platform's ports."""
