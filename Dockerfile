# One `cpo serve` node. Several of them share PostgreSQL and Redis behind HAProxy
# (compose.yaml, docs/deploy.md).
FROM python:3.11-slim

WORKDIR /srv/cpo
COPY pyproject.toml README.md ./
COPY csms ./csms
COPY cpo ./cpo
COPY simulators ./simulators
RUN pip install --no-cache-dir . && useradd --system --home-dir /srv/cpo cpo && chown cpo /srv/cpo
USER cpo

ENV CPO_HOST=0.0.0.0 \
    CPO_PORT=8000 \
    CPO_LOG_FORMAT=json
EXPOSE 8000
# SIGTERM drains: the node stops taking chargers, closes their sockets with 1001 so they
# reconnect to the other nodes, hands its leases over and exits (give it stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["cpo", "serve"]
