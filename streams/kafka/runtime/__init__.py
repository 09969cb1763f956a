"""The worker's data path: draining batches into each partition's detector (the partition
logic replay runs too, :mod:`streams.partition`), its outbox, the table store and its restore,
the commit, and the exactly-once fixes (with every private Faust attribute they touch listed
in :mod:`streams.kafka.runtime.internals`)."""
