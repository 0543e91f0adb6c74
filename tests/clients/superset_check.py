"""Checks that Apache Superset works with Quarry over Flight SQL, as an operator sets it
up: a Superset with a SQLite metadata database, a database connection
`datafusion+flightsql://user:pass@host:port?insecure=true` (flightsql-dbapi's dialect,
registered by `import flightsql.sqlalchemy` in superset_config.py), tested and added
through Superset's REST API; then Superset lists the schemas, the gold schema's tables
and a table's columns, and runs a SQL Lab query on it. (SQL Lab's schema selector does
not set the connection's schema for this dialect: queries name `gold.sales`.)

Run by the end-to-end tests against a `quarry serve` process that holds gold.sales
(id 1..N, region 'r0'..'r2', amount id * 1.5):

    python superset_check.py --host 127.0.0.1 --port PORT --rows N

Superset runs in this process (Flask's test client: no web server, no port). Exits
non-zero with the failing step's message.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from sales import arguments, per_region

ADMIN = ("admin", "admin-password")

CONFIG = """
import flightsql.sqlalchemy  # registers the datafusion+flightsql SQLAlchemy dialect
SECRET_KEY = "quarry-superset-check"
SQLALCHEMY_DATABASE_URI = "sqlite:///{home}/superset.db"
WTF_CSRF_ENABLED = False
"""


def step(name, started):
    print(f"ok   {name} ({time.perf_counter() - started:.1f} s)", flush=True)


def superset_cli(*args):
    """Runs the `superset` command of this Python's environment."""
    superset = os.path.join(os.path.dirname(sys.executable), "superset")
    done = subprocess.run([superset, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"superset {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


class Api:
    """Superset's REST API through Flask's test client, logged in as the admin."""

    def __init__(self, app):
        self.client = app.test_client()
        login = self.client.post(
            "/api/v1/security/login",
            json={"username": ADMIN[0], "password": ADMIN[1], "provider": "db", "refresh": True},
        )
        self.headers = {"Authorization": f"Bearer {self.expect(login, 200)['access_token']}"}

    @staticmethod
    def expect(response, status):
        if response.status_code != status:
            raise SystemExit(
                f"{response.request.method} {response.request.path}: HTTP {response.status_code}, "
                f"expected {status}: {response.get_data(as_text=True)[:2000]}"
            )
        return response.get_json()

    def get(self, path, **params):
        return self.expect(self.client.get(path, query_string=params, headers=self.headers), 200)

    def post(self, path, body, status=200):
        return self.expect(self.client.post(path, json=body, headers=self.headers), status)


def main():
    args = arguments(__doc__).parse_args()
    uri = f"datafusion+flightsql://superset:secret@{args.host}:{args.port}?insecure=true"

    home = tempfile.mkdtemp(prefix="superset-check-")
    os.environ["SUPERSET_HOME"] = home
    os.environ["SUPERSET_CONFIG_PATH"] = os.path.join(home, "superset_config.py")
    with open(os.environ["SUPERSET_CONFIG_PATH"], "w") as config:
        config.write(CONFIG.format(home=home))

    started = time.perf_counter()
    superset_cli("db", "upgrade")
    superset_cli("fab", "create-admin", "--username", ADMIN[0], "--password", ADMIN[1],
                 "--firstname", "A", "--lastname", "Dmin", "--email", "admin@example.com")
    superset_cli("init")
    step("superset db upgrade, create-admin, init", started)

    from superset.app import create_app

    # Each request gets its own app context from the test client: a shared one would
    # keep the first request's (anonymous) user for the rest.
    app = create_app()
    started = time.perf_counter()
    api = Api(app)
    api.post("/api/v1/database/test_connection/", {"database_name": "quarry", "sqlalchemy_uri": uri})
    step("test connection", started)

    started = time.perf_counter()
    created = api.post(
        "/api/v1/database/",
        {"database_name": "quarry", "sqlalchemy_uri": uri, "expose_in_sqllab": True},
        status=201,
    )
    database = created["id"]
    step(f"add database (id {database})", started)

    started = time.perf_counter()
    schemas = api.get(f"/api/v1/database/{database}/schemas/")["result"]
    if not {"bronze", "silver", "gold"} <= set(schemas):
        raise SystemExit(f"Superset lists the schemas {schemas}: the medallion layers are missing")
    tables = api.get(f"/api/v1/database/{database}/tables/", q="(schema_name:gold)")["result"]
    names = [t["value"] for t in tables]
    if "sales" not in names:
        raise SystemExit(f"Superset lists the gold tables {names}: sales is missing")
    metadata = api.get(f"/api/v1/database/{database}/table_metadata/", name="sales", schema="gold")
    columns = [(c["name"], c["type"]) for c in metadata["columns"]]
    if [name for name, _ in columns] != ["id", "region", "amount"]:
        raise SystemExit(f"Superset lists the columns of gold.sales as {columns}")
    step(f"schemas {schemas}, gold tables {names}, columns {columns}", started)

    started = time.perf_counter()
    result = api.post(
        "/api/v1/sqllab/execute/",
        {
            "database_id": database,
            "schema": "gold",
            "sql": "SELECT region, count(*) AS n, sum(amount) AS total FROM gold.sales GROUP BY region ORDER BY region",
            "runAsync": False,
        },
    )
    data = [(row["region"], row["n"], row["total"]) for row in result["data"]]
    expected = per_region(args.rows)
    if data != expected:
        raise SystemExit(f"SQL Lab answered {json.dumps(data)}, expected {json.dumps(expected)}")
    step(f"SQL Lab query: {data}", started)


if __name__ == "__main__":
    main()
