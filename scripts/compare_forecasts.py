"""How far two runs' forecasts of the same model are apart: every row of the long forecast
schema (issue, target, output) the two `forecasts.parquet` share, for one model.

    .venv-ci/bin/python scripts/compare_forecasts.py DIR_A DIR_B --model lear_1456

Prints the rows matched, the rows of either run that the other lacks, and the largest and mean
absolute difference of `value`. Used for the converged-lasso reference
(scripts/experiments/lasso_converged_reference.patch).
"""

import argparse
import sys

import duckdb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="an output directory of `hcp evaluate price` (holds forecasts.parquet)")
    parser.add_argument("b", help="another, over the same period")
    parser.add_argument("--model", required=True, help="the model whose forecasts to compare")
    args = parser.parse_args()

    # The mean's `output_type_id` is null, which a join never matches: -1 stands for it.
    def rows(directory: str) -> str:
        return (
            f"select forecast_time, target_time, output_type, coalesce(output_type_id, -1) as output_id, value "
            f"from read_parquet('{directory}/forecasts.parquet') where model_id = $model"
        )

    keys = "forecast_time, target_time, output_type, output_id"
    sql = f"""
        with a as ({rows(args.a)}), b as ({rows(args.b)})
        select
            count(a.value) filter (where b.value is not null) as matched,
            count(*) filter (where b.value is null) as only_a,
            count(*) filter (where a.value is null) as only_b,
            max(abs(a.value - b.value)) as max_diff,
            avg(abs(a.value - b.value)) as mean_diff
        from a full outer join b using ({keys})
    """
    matched, only_a, only_b, max_diff, mean_diff = duckdb.execute(sql, {"model": args.model}).fetchone()
    if matched == 0:
        print(f"no rows of model {args.model!r} in both runs", file=sys.stderr)
        return 1
    print(f"{args.model}: {matched} rows matched, {only_a} only in {args.a}, {only_b} only in {args.b}")
    print(f"|difference|: max {max_diff:.4f}, mean {mean_diff:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
