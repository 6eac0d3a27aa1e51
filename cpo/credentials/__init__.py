"""OCPI Credentials: the handshake that makes a peer a party, both ways."""
