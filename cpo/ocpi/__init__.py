"""The OCPI transport every module shares: envelope, status codes, credentials tokens, headers,
pagination, router, client, request log. The modules themselves are packages of their own
(cpo.locations, cpo.tariffs, cpo.tokens, cpo.sessions, cpo.cdrs, cpo.commands, cpo.credentials,
cpo.versions)."""
