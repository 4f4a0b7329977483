//! `hcp query` answers SQL as SQL means it where polars-sql 0.55 alone answers wrongly without an
//! error (`query::mend`): a JOIN's ON that compares a column with a constant filters the table
//! the column's qualifier names (polars-sql alone filters the other input when both have the
//! column), and an outer join keeps its rows without a match when its ON has a condition other
//! than `=` (polars-sql alone drops them); what no rewrite keeps the meaning of is refused. And
//! instants written with their zone compare with hcp's UTC columns (polars-sql alone refuses them).

use std::path::Path;

use hcp_training::query::query;
use polars::prelude::*;

/// `f` (forecasts of node A at hours 1 and 2) and `p` (prices of nodes A and B at the same
/// hours), both with a `node` column: the shape of a forecast table joined to prices.
fn tables(dir: &Path) {
    let mut f = df!("k" => [1i64, 2], "node" => ["A", "A"], "v" => [10.0, 20.0]).unwrap();
    let mut p = df!("k" => [1i64, 1, 2, 2], "node" => ["A", "B", "A", "B"], "w" => [1.0, 100.0, 2.0, 200.0]).unwrap();
    for (name, frame) in [("f", &mut f), ("p", &mut p)] {
        let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap();
        ParquetWriter::new(file).finish(frame).unwrap();
    }
}

fn answer(dir: &Path, sql: &str) -> Vec<(i64, Option<String>, Option<f64>)> {
    let df = query(dir, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let k = df.column("k").unwrap().i64().unwrap().clone();
    let node = df.column("node").unwrap().str().unwrap().clone();
    let w = df.column("w").unwrap().f64().unwrap().clone();
    (0..df.height()).map(|i| (k.get(i).unwrap(), node.get(i).map(str::to_string), w.get(i))).collect()
}

#[test]
fn a_joins_constant_filters_the_table_its_qualifier_names() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    let a = vec![(1, Some("A".to_string()), Some(1.0)), (2, Some("A".into()), Some(2.0))];
    let b = vec![(1, Some("B".to_string()), Some(100.0)), (2, Some("B".into()), Some(200.0))];
    let select = "SELECT f.k, p.node, p.w FROM f JOIN p ON";
    // The joined table's column on either side of `=`, before or after the key.
    for on in [
        "f.k = p.k AND p.node = 'A'",
        "f.k = p.k AND 'A' = p.node",
        "p.node = 'A' AND p.k = f.k",
        "p.k = f.k AND (p.node = 'A')",
    ] {
        assert_eq!(answer(dir.path(), &format!("{select} {on} ORDER BY f.k")), a, "{on}");
    }
    assert_eq!(answer(dir.path(), &format!("{select} f.k = p.k AND p.node = 'B' ORDER BY f.k")), b);
    // The left table's column: every f.node is A, so `= 'B'` keeps nothing and `= 'A'` all four.
    for on in ["f.k = p.k AND 'B' = f.node", "f.k = p.k AND f.node = 'B'"] {
        assert_eq!(answer(dir.path(), &format!("{select} {on} ORDER BY f.k")), vec![], "{on}");
    }
    assert_eq!(answer(dir.path(), &format!("{select} f.k = p.k AND 'A' = f.node ORDER BY f.k, p.node")).len(), 4);
    // A LEFT JOIN keeps every forecast, matched to node B's price only.
    let left = "SELECT f.k, p.node, p.w FROM f LEFT JOIN p ON f.k = p.k AND p.node = 'B' ORDER BY f.k";
    assert_eq!(answer(dir.path(), left), b);
    // The FROM table aliased, the joined one by its own name; a typed constant.
    let named =
        "SELECT x.k, p.node, p.w FROM f AS x JOIN p ON x.k = p.k AND p.node = CAST('B' AS VARCHAR) ORDER BY x.k";
    assert_eq!(answer(dir.path(), named), b);
}

/// pola-rs/polars#28875: polars-sql 0.55 answers a LEFT JOIN whose ON has a condition other
/// than `=` as an inner join. The forecasts without a price above the bound must stay, with
/// nulls; an inner join still keeps only the matches.
#[test]
fn an_outer_joins_unequal_condition_keeps_the_rows_without_a_match() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    let unmatched = (1, None, None);
    let b2 = (2, Some("B".to_string()), Some(200.0));
    for sql in [
        "SELECT f.k, p.node, p.w FROM f LEFT JOIN p ON f.k = p.k AND p.w > 150 ORDER BY f.k",
        "SELECT f.k, p.node, p.w FROM f LEFT OUTER JOIN p ON p.w >= 200 AND p.k = f.k ORDER BY f.k",
        "SELECT x.k, q.node, q.w FROM f x LEFT JOIN p AS q ON x.k = q.k AND (q.w > 150) AND q.node = 'B' ORDER BY x.k",
        "SELECT f.k, p.node, p.w FROM f LEFT JOIN p ON f.k = p.k AND p.w <> 1 AND abs(p.w) > 100 ORDER BY f.k",
    ] {
        assert_eq!(answer(dir.path(), sql), vec![unmatched.clone(), b2.clone()], "{sql}");
    }
    // Node A's price and a bound on it together: hour 1's price (1.0) is below the bound.
    let a = "SELECT f.k, p.node, p.w FROM f LEFT JOIN p ON f.k = p.k AND p.node = 'A' AND p.w > 1.5 ORDER BY f.k";
    assert_eq!(answer(dir.path(), a), vec![unmatched, (2, Some("A".into()), Some(2.0))]);
    let inner = "SELECT f.k, p.node, p.w FROM f JOIN p ON f.k = p.k AND p.w > 150 ORDER BY f.k";
    assert_eq!(answer(dir.path(), inner), vec![b2]);
}

/// An outer join's condition that no rewrite keeps the meaning of is refused, naming it, where
/// polars-sql alone would drop the rows without a match.
#[test]
fn an_outer_joins_condition_on_the_kept_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    for (sql, condition) in [
        ("SELECT f.k, p.w FROM f LEFT JOIN p ON f.k = p.k AND f.v > 15", "`f.v > 15`"),
        ("SELECT f.k, p.w FROM f LEFT JOIN p ON f.k = p.k AND p.w < f.v", "`p.w < f.v`"),
        ("SELECT f.k, p.w FROM f RIGHT JOIN p ON f.k = p.k AND p.w > 150", "`p.w > 150`"),
        ("SELECT f.k, p.w FROM f FULL JOIN p ON f.k = p.k AND p.w > 150", "`p.w > 150`"),
    ] {
        let message = query(dir.path(), sql).expect_err(sql).to_string();
        assert!(message.contains(condition) && message.contains("pola-rs/polars#28875"), "{sql}: {message}");
    }
}

/// Instants as hcp prints them (`2025-02-01T06:00:00Z`), with another zone, or as `TIMESTAMP`
/// literals select the same hours of a UTC column as UTC text without a zone, which is all polars
/// alone compares with such a column (it refuses the rest).
#[test]
fn instants_with_their_zone_select_the_same_hours_as_utc_text() {
    let dir = tempfile::tempdir().unwrap();
    // Hours 00:00 .. 11:00 UTC of 2025-02-01.
    let start = 1_738_368_000_000_000i64;
    let hours: Vec<i64> = (0..12).map(|h| start + h * 3_600_000_000).collect();
    let t =
        Series::new("t".into(), hours).cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))).unwrap();
    let mut h = DataFrame::new_infer_height(vec![t.into()]).unwrap();
    ParquetWriter::new(std::fs::File::create(dir.path().join("h.parquet")).unwrap()).finish(&mut h).unwrap();
    let count = |condition: &str| {
        let sql = format!("SELECT count(*) AS n FROM h WHERE {condition}");
        let df = query(dir.path(), &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        df.column("n").unwrap().cast(&DataType::Int64).unwrap().i64().unwrap().get(0).unwrap()
    };
    assert_eq!(count("t >= '2025-02-01 06:00:00'"), 6);
    for same in [
        "t >= '2025-02-01T06:00:00Z'",
        "t >= '2025-02-01T00:00:00-06:00'",
        "t >= '2025-02-01 06:00:00+00'",
        "t >= TIMESTAMP '2025-02-01 06:00:00'",
        "t >= TIMESTAMP '2025-02-01T09:00:00+03:00'",
        "NOT t < '2025-02-01T06:00:00.000Z'",
        "t >= CAST('2025-02-01 06:00' AS TIMESTAMP)",
    ] {
        assert_eq!(count(same), 6, "{same}");
    }
    assert_eq!(count("t BETWEEN '2025-02-01T02:00:00Z' AND TIMESTAMP '2025-02-01 04:00'"), 3);
    assert_eq!(count("t IN ('2025-02-01T02:00:00Z', TIMESTAMP '2025-02-01 03:00', '2025-01-31T23:00:00-06:00')"), 3);
    assert_eq!(count("t NOT IN ('2025-02-01T02:00:00Z', '2025-02-01 03:00:00')"), 10);
    let refused = query(dir.path(), "SELECT * FROM h WHERE t > TIMESTAMP 'noon'").expect_err("not an instant");
    assert!(refused.to_string().contains("`TIMESTAMP 'noon'` is not an instant"), "{refused}");
}

/// An answer is never written over a table or into one: over a file of it (which it replaced),
/// into a hive table's directory (whose parts it would join), or there by way of `..` or a
/// directory not made yet. A new file beside the tables is fine.
#[test]
fn an_answer_is_not_written_over_or_into_a_table() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let prices = data.join("prices").join("market=ERCOT").join("year=2025");
    std::fs::create_dir_all(&prices).unwrap();
    tables(&data);
    std::fs::copy(data.join("p.parquet"), prices.join("part-x.parquet")).unwrap();
    let check = |out: &Path| hcp_training::query::check_out(&data, out);
    for (over, table) in [
        (data.join("f.parquet"), "f"),
        (prices.join("part-x.parquet"), "prices"),
        (prices.join("answer.parquet"), "prices"),
        (data.join("prices").join("new").join("answer.csv"), "prices"),
        (root.path().join("elsewhere").join("..").join("data").join("p.parquet"), "p"),
    ] {
        let err = check(&over).unwrap_err().to_string();
        assert!(err.contains(&format!("would replace or join table `{table}`")), "{}: {err}", over.display());
    }
    for beside in [data.join("answer.csv"), data.join("answers").join("a.parquet"), root.path().join("a.csv")] {
        assert!(check(&beside).is_ok(), "{}", beside.display());
    }
}
