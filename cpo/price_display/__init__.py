"""The price shown to the driver before and during charging (EU price transparency): the
tariff's price with the authorization's answer, the running cost during the transaction, the
final cost at its end (ADR 029)."""
