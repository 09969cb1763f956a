"""The Kafka command-line tools: ``topics``, ``produce``, ``watch`` and ``worker``'s
registration."""
