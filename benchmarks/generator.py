"""Deterministic, seeded scale-up of the real REST Countries file to any number of records.

Record i is derived from real country i % 250 (copy k = i // 250), so the continent, currency and
nesting mix is the real one at every size. Each synthetic record:
* keeps the real structure but drops `translations`, `flags` and `maps` (75% of a real record's
  bytes: 3.46 KB -> ~1.27 KB, the record size the local-cloud baselines were measured with);
* gets a unique code: copy 0 keeps the real cca3 (ISO, 3 letters), copy k >= 1 gets cca3 + k as
  7 digits (FRA0000001, ...). 3 letters allow only 17,576 codes, so the Glue job is run with
  `--code_pattern` CODE_PATTERN for synthetic sets (see PERFORMANCE.md for why);
* gets "<name> <k>" names and population/area/latlng jittered by a seeded RNG.

    python -m benchmarks.generator 100000 out.json [--seed 6]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

REAL_DATA = Path("/work/shared/data/countries_v3.1.json")
CODE_PATTERN = "[A-Z]{3}([0-9]{7})?"
DROPPED_FIELDS = ("translations", "flags", "maps")
DEFAULT_SEED = 6


def generate(n: int, out: Path, source: Path = REAL_DATA, seed: int = DEFAULT_SEED) -> dict:
    """Write n records as a JSON array (one record per line) to `out`; return what was written."""
    real = json.loads(source.read_text(encoding="utf-8"))
    templates = [json.dumps({k: v for k, v in r.items() if k not in DROPPED_FIELDS}, ensure_ascii=False) for r in real]
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    written = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n")
        for i in range(n):
            k, base = divmod(i, len(templates))
            r = json.loads(templates[base])
            if k:
                r["cca3"] = f"{r['cca3']}{k:07d}"
                name = r.get("name") or {}
                for part in ("common", "official"):
                    if isinstance(name.get(part), str):
                        name[part] = f"{name[part]} {k}"
                if isinstance(r.get("population"), int):
                    r["population"] = int(r["population"] * rng.uniform(0.8, 1.2))
                if isinstance(r.get("area"), (int, float)):
                    r["area"] = round(r["area"] * rng.uniform(0.8, 1.2), 1)
                if isinstance(r.get("latlng"), list) and len(r["latlng"]) == 2:
                    r["latlng"] = [round(x + rng.uniform(-1, 1), 4) for x in r["latlng"]]
            line = json.dumps(r, ensure_ascii=False, separators=(",", ":"))
            f.write(line if i == 0 else ",\n" + line)
            written += 1
        f.write("\n]\n")
    tmp.replace(out)
    size = out.stat().st_size
    return {"records": written, "bytes": size, "avg_record_bytes": round(size / max(written, 1)), "seed": seed}


def dataset(n: int, data_dir: Path, seed: int = DEFAULT_SEED) -> tuple[Path, bool]:
    """The input for size n: the real file itself for 250 (the 20-record fixture when the real data
    is not there), else a generated file, cached by (n, seed). Returns (path, synthetic)."""
    if not REAL_DATA.exists():
        from helpers.settings import PROJECT_ROOT

        fixture = PROJECT_ROOT / "helpers" / "fixtures" / "countries_sample.json"
        if n <= 20:
            return fixture, False
        raise SystemExit(f"{REAL_DATA} is missing: only the 20-record fixture can be benchmarked (--sizes 20)")
    if n == 250:
        return REAL_DATA, False
    path = data_dir / f"countries_{n}_seed{seed}.json"
    if not path.exists():
        generate(n, path, seed=seed)
    return path, True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = p.parse_args()
    print(json.dumps(generate(args.n, args.out, seed=args.seed)))


if __name__ == "__main__":
    main()
