"""Runs each query of a file through `hcp query` (polars SQL) and DuckDB over the same Parquet and
says where the answers differ: a check that `hcp query` answers SQL as SQL means it.

Usage: .venv-ci/bin/python scripts/query_vs_duckdb.py RUN_DIR [QUERIES.sql]
RUN_DIR is an `hcp run` output (`cargo run -- run --out RUN_DIR`); QUERIES.sql defaults to
scripts/query_vs_duckdb.sql (queries separated by `;` at a line's end; each fully ordered, so
row order is part of the answer). The hcp binary is $HCP, else target/debug/hcp.
(DuckDB and polars from notebooks/requirements.txt.)

Each query ends in one of: `same` (equal shapes, and every value equal; floats to 1e-9
relative), `DIFFERENT` (the first differing column and values), `hcp refuses` (polars or hcp
answers with an error; the message's first line), `duckdb refuses`.
"""

import math
from decimal import Decimal
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import polars as pl


def tables(hcp: str, run: str) -> dict[str, str]:
    listed = subprocess.run([hcp, "query", "--data", run, "--tables"], capture_output=True, text=True, check=True)
    return dict(line.split(maxsplit=1) for line in listed.stdout.splitlines())


def duckdb_views(found: dict[str, str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # hcp's times are UTC, and `hcp query` reads an instant without a zone as UTC.
    con.execute("set TimeZone = 'UTC'")
    for name, path in found.items():
        source = (
            f"read_parquet('{path}')"
            if path.endswith(".parquet")
            else f"read_parquet('{path}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
        )
        con.execute(f"create view {name} as select * from {source}")
    return con


def same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    numbers = (float, int, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return str(a) == str(b)


def difference(ours: pl.DataFrame, theirs: pl.DataFrame) -> str | None:
    if ours.shape != theirs.shape:
        return f"shape {ours.shape} against {theirs.shape}"
    for a, b in zip(ours.columns, theirs.columns):
        for row, (x, y) in enumerate(zip(ours[a].to_list(), theirs[b].to_list())):
            if not same(x, y):
                return f"column {a}, row {row}: {x!r} against {y!r}"
    return None


def main(run: str, queries: str) -> None:
    hcp = os.environ.get("HCP", "target/debug/hcp")
    con = duckdb_views(tables(hcp, run))
    statements = [q.strip() for q in Path(queries).read_text().split(";\n") if q.strip().rstrip(";")]
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for i, sql in enumerate(statements):
            sql = sql.rstrip(";")
            out = Path(scratch) / f"q{i}.parquet"
            ran = subprocess.run([hcp, "query", "--data", run, "--out", str(out), sql], capture_output=True, text=True)
            try:
                theirs = pl.from_arrow(con.sql(sql).to_arrow_table())
            except (duckdb.Error, pl.exceptions.PolarsError) as e:
                theirs = str(e).splitlines()[0]
            if ran.returncode != 0:
                verdict, detail = "hcp refuses", ran.stderr.strip().splitlines()[-1][:160]
            elif isinstance(theirs, str):
                verdict, detail = "duckdb refuses", theirs[:160]
            else:
                found = difference(pl.read_parquet(out), theirs)
                verdict, detail = ("DIFFERENT", found) if found else ("same", "")
            counts[verdict] = counts.get(verdict, 0) + 1
            print(f"{verdict:<14} {sql}")
            if detail:
                print(f"{'':<14} {detail}")
    print(", ".join(f"{n} {v}" for v, n in sorted(counts.items())), f"of {len(statements)} queries")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else str(Path(__file__).with_suffix(".sql")))
