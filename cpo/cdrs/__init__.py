"""OCPI CDRs: the priced record of a finished session, sent once and never changed."""
