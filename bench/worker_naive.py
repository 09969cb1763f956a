"""The naive Faust agent a user would write first: the baseline for ``bench.worker_throughput``.

Faust's JSON decoding of every event, one table update per event (Faust's defaults: JSON
keys and values, memory store), default app settings. It keeps a count and the last event
time per customer instead of running the engine, which flatters it: the work measured is
Faust's, not the detector's.

Run: ``python -m bench.worker_naive APP_ID BROKER PARTITIONS GUARANTEE WEB_PORT DATA_DIR
TOPIC...`` (started by the benchmark; stops on SIGTERM).
"""

from __future__ import annotations

import sys
from typing import Any

import faust


def build_naive_app(
    app_id: str,
    broker: str,
    partitions: int,
    guarantee: str,
    web_port: int,
    data_dir: str,
    topics: list[str],
) -> Any:
    app = faust.App(
        app_id,
        broker=f"kafka://{broker}",
        store="memory://",
        processing_guarantee=guarantee,
        topic_partitions=partitions,
        web_port=web_port,
        datadir=data_dir,
        consumer_auto_offset_reset="earliest",
    )
    customers = app.Table("customers", default=dict, partitions=partitions)
    channel = app.topic(*topics, key_type=str, key_serializer="raw")

    async def count(stream: Any) -> None:
        async for event in stream:
            customer = event["customer_id"]
            seen = customers[customer]
            customers[customer] = {
                "events": seen.get("events", 0) + 1,
                "last": event["occurred_at"],
            }

    app.agent(channel, name="naive.count")(count)
    return app


def main() -> None:
    app_id, broker, partitions, guarantee, web_port, data_dir, *topics = sys.argv[1:]
    app = build_naive_app(
        app_id, broker, int(partitions), guarantee, int(web_port), data_dir, topics
    )
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
