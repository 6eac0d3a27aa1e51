"""OCPI Sessions: charging transactions as the eMSP sees them, priced while they run."""
