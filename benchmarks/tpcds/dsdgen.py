"""TPC-DS data for `quarry-bench tpcds`: DuckDB's dsdgen writes the 24 tables.

Generates the tables at the scale factor with the `tpcds` extension (PyPI package
`duckdb-extension-tpcds`) in an in-memory DuckDB, then writes each as Parquet to
DIR/<table>/<table>.parquet. Prints one JSON line: the tables and their row counts.

Usage: dsdgen.py --sf SF --dir DIR
"""

import argparse
import json
import pathlib
import sys

import duckdb
import duckdb_extension_tpcds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", required=True, type=float, help="TPC-DS scale factor")
    parser.add_argument("--dir", required=True, help="where the table directories go")
    args = parser.parse_args()
    root = pathlib.Path(duckdb_extension_tpcds.__file__).parent / "extensions"
    extension = next(root.glob("*/tpcds.duckdb_extension"))
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension}'")
    con.execute("CALL dsdgen(sf = ?)", [args.sf])
    out = pathlib.Path(args.dir)
    rows = {}
    for (table,) in con.execute("SHOW TABLES").fetchall():
        (out / table).mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY {table} TO '{out / table / table}.parquet' (FORMAT parquet)")
        rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    print(json.dumps({"tables": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
