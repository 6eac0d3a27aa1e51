"""What the tests share: servers, databases, peers and wire helpers, started for real."""
