"""The Kafka side of Churnwatch: topics, the producer command and the Faust worker.

Only this package knows Kafka and Faust exist. ``docs/worker.md`` describes the topology;
each module's docstring says which part it owns.
"""
