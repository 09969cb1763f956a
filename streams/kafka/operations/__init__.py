"""What the people who run the worker see: health and lookup endpoints, metrics observers,
the commit-timing sensor, and their installation into the app."""
