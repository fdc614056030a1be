"""The physical-limit baseline: plain in-process DuckDB computing the same RAW / TRANSFORM / MART
results as the pipeline (typed read_json + UNNEST) from the same landed NDJSON file, once through
the emulated S3 (httpfs, from the pip package) and once from a local file.

    python -m benchmarks.baseline --file PATH [--s3 s3://bucket/key --endpoint 127.0.0.1:PORT
                                   --key-id K --secret S] [--memory-limit 2GB]

prints one JSON line: seconds per phase and the row counts. Run as a subprocess by the harness,
so its memory is measured on its own and does not stay in the harness's process.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from helpers.validation import CONTINENTS  # the one list: the dbt var `continents`

COLUMNS = {
    "cca3": "VARCHAR",
    "cca2": "VARCHAR",
    "name": "STRUCT(common VARCHAR, official VARCHAR)",
    "region": "VARCHAR",
    "subregion": "VARCHAR",
    "capital": "VARCHAR[]",
    "population": "BIGINT",
    "area": "DOUBLE",
    "unMember": "BOOLEAN",
    "independent": "BOOLEAN",
    "continents": "VARCHAR[]",
    "currencies": "MAP(VARCHAR, STRUCT(name VARCHAR, symbol VARCHAR))",
}


def build(con: duckdb.DuckDBPyConnection, source: str) -> dict:
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
    t: dict[str, float] = {}
    started = time.monotonic()
    con.execute(f"""
        CREATE OR REPLACE TABLE raw AS
        SELECT cca3 AS country_code, cca2, name, region, subregion, capital, population, area,
               unMember, independent, continents, currencies
        FROM read_json('{source}', format = 'newline_delimited', columns = {columns})""")
    t["raw"] = time.monotonic() - started
    started = time.monotonic()
    # LATERAL FLATTEN ... OUTER => TRUE: an empty or missing list/object still gives one row
    con.execute("""
        CREATE OR REPLACE TABLE transform AS
        WITH continents AS (
            SELECT country_code,
                   unnest(CASE WHEN len(continents) > 0 THEN continents ELSE [NULL] END) AS continent_name
            FROM raw),
        currencies AS (
            SELECT country_code,
                   unnest(CASE WHEN cardinality(currencies) > 0 THEN map_entries(currencies)
                          ELSE [NULL] END) AS c
            FROM raw)
        SELECT r.country_code, r.cca2 AS country_code_2, r.name.common AS country_name,
               r.name.official AS country_official_name, ct.continent_name AS country_continent_name,
               r.region, r.subregion, r.capital[1] AS capital_name, r.population, r.area AS area_km2,
               r.unMember AS is_un_member, r.independent AS is_independent,
               cu.c.key AS currency_code, cu.c.value.name AS currency_name, cu.c.value.symbol AS currency_symbol
        FROM raw r
        JOIN continents ct ON ct.country_code = r.country_code
        JOIN currencies cu ON cu.country_code = r.country_code""")
    t["transform"] = time.monotonic() - started
    started = time.monotonic()
    for continent in CONTINENTS:
        table = "mart_" + continent.lower().replace(" ", "_")
        con.execute(f"""
            CREATE OR REPLACE TABLE {table} AS
            SELECT country_code, country_code_2, country_name, country_official_name, country_continent_name,
                   region, subregion, capital_name, population, area_km2, is_un_member, is_independent,
                   count(currency_code) AS currency_count,
                   string_agg(currency_code, ', ' ORDER BY currency_code) AS currency_codes
            FROM transform WHERE country_continent_name = '{continent}'
            GROUP BY ALL""")
    con.execute("""
        CREATE OR REPLACE TABLE continent_summary AS
        WITH cc AS (SELECT DISTINCT country_continent_name, country_code, population, area_km2, is_un_member
                    FROM transform),
             cur AS (SELECT country_continent_name, count(DISTINCT currency_code) AS n FROM transform GROUP BY 1)
        SELECT cc.country_continent_name AS continent_name, count(*) AS country_count,
               sum(population) AS total_population, round(sum(area_km2), 2) AS total_area,
               cur.n AS distinct_currency_count, count_if(is_un_member) AS un_member_count
        FROM cc JOIN cur USING (country_continent_name) GROUP BY ALL""")
    t["mart"] = time.monotonic() - started
    counts = {
        "raw": con.execute("SELECT count(*) FROM raw").fetchone()[0],
        "transform_rows": con.execute("SELECT count(*) FROM transform").fetchone()[0],
        "transform_countries": con.execute("SELECT count(DISTINCT country_code) FROM transform").fetchone()[0],
        "mart_continent_rows": con.execute("SELECT sum(country_count) FROM continent_summary").fetchone()[0],
    }
    return {"seconds": {k: round(v, 2) for k, v in t.items()}, "total_s": round(sum(t.values()), 2), "counts": counts}


def load_httpfs(con: duckdb.DuckDBPyConnection) -> None:
    import duckdb_extension_httpfs

    root = Path(duckdb_extension_httpfs.__file__).parent
    path = root / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.exists():
        path = next(root.rglob("httpfs.duckdb_extension"))
    con.execute(f"LOAD '{path}'")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", type=Path, required=True)
    p.add_argument("--s3")
    p.add_argument("--endpoint")
    p.add_argument("--key-id")
    p.add_argument("--secret")
    p.add_argument("--memory-limit", default="2GB")
    p.add_argument("--spill-dir", type=Path, default=Path("/tmp/bench-baseline-spill"))
    args = p.parse_args()
    out: dict = {}
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    args.spill_dir.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{args.spill_dir}'")
    out["local"] = build(con, str(args.file))
    if args.s3:
        load_httpfs(con)
        con.execute(f"""CREATE SECRET bench (TYPE s3, KEY_ID '{args.key_id}', SECRET '{args.secret}',
            REGION 'us-east-1', ENDPOINT '{args.endpoint}', URL_STYLE 'path', USE_SSL false)""")
        out["s3"] = build(con, args.s3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
