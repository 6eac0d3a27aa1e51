"""OCPI Tokens: the eMSPs' driver tokens, stored per owner, deciding who may charge."""
