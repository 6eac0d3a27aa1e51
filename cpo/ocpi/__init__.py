"""OCPI 2.2.1 transport: envelope, status codes, tokens, headers, pagination, client, request log."""
