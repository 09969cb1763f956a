"""The worker's data path: draining batches into each partition's engine, the clock, the
outbox, the table store and its restore, the commit, and the exactly-once fixes (with every
private Faust attribute they touch listed in :mod:`streams.kafka.runtime.internals`)."""
