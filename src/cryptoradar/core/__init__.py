"""Small building blocks shared by every layer: clock, backoff, errors, supervisor, metrics, logging."""
