"""One module per network layer. Each probe returns an observation and never raises on failure."""
