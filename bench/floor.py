"""The floor a replay is compared with: read JSON Lines with orjson, update a dict per customer.

Usage: ``python -m bench.floor FILE`` (prints the number of customers).
"""

from __future__ import annotations

import sys

import orjson


def main() -> None:
    latest: dict[str, object] = {}
    with open(sys.argv[1], "rb") as handle:
        for line in handle:
            event = orjson.loads(line)
            latest[event["customer_id"]] = event
    print(len(latest))


if __name__ == "__main__":
    main()
