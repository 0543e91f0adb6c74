"""Reads a Quarry table with other engines and prints what each sees.

Usage: read_table.py WAREHOUSE NAMESPACE.TABLE

pyiceberg opens Quarry's catalog (the SQLite file in the warehouse, catalog name
`quarry`); DuckDB reads the table's current metadata file with `iceberg_scan`. Prints
one JSON object: for each engine, the rows (sorted) with every value as text, the way
the end-to-end test renders Quarry's own result.
"""

import datetime
import decimal
import json
import pathlib
import sys

import duckdb
import duckdb_extension_avro
import duckdb_extension_iceberg
from pyiceberg.catalog.sql import SqlCatalog


def text(value):
    """A value as text: the same rendering for both engines."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            return str(int(value.timestamp()))
        return value.isoformat()
    if isinstance(value, (datetime.date, decimal.Decimal, int, str)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    raise TypeError(f"unexpected value {value!r}")


def extension(module, name):
    """The extension file a PyPI package ships."""
    root = pathlib.Path(module.__file__).parent / "extensions"
    return str(next(root.glob(f"*/{name}.duckdb_extension")))


def main():
    warehouse, table = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
    catalog = SqlCatalog(
        "quarry",
        uri=f"sqlite:///{warehouse / 'catalog.db'}",
        warehouse=f"file://{warehouse}",
    )
    loaded = catalog.load_table(table)
    arrow = loaded.scan().to_arrow()
    columns = arrow.column_names
    pyiceberg_rows = sorted(
        [text(row[c]) for c in columns] for row in arrow.to_pylist()
    )

    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    for module, name in [(duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")]:
        con.execute(f"LOAD '{extension(module, name)}'")
    result = con.execute(
        f"SELECT * FROM iceberg_scan('{loaded.metadata_location}')"
    ).fetchall()
    duckdb_rows = sorted([text(v) for v in row] for row in result)

    print(json.dumps({"columns": columns, "pyiceberg": pyiceberg_rows, "duckdb": duckdb_rows}))


if __name__ == "__main__":
    main()
