"""What the client checks share: their command line and the answers gold.sales gives.

The end-to-end tests create gold.sales as id 1..N, region 'r' || (id % 3), amount
id * 1.5, and pass N as --rows.
"""

import argparse


def arguments(doc, url=False):
    """Parses --host/--port (or --url) and --rows, with the script's docstring as help."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if url:
        parser.add_argument("--url", required=True, help="grpc://host:port of Quarry's Flight SQL")
    else:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True, help="rows in gold.sales")
    return parser


def expect(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def per_region(rows):
    """(region, count, sum of amount) per region, in region order."""
    return [
        (f"r{r}", len(ids), 1.5 * sum(ids))
        for r in range(3)
        for ids in [[i for i in range(1, rows + 1) if i % 3 == r]]
    ]
