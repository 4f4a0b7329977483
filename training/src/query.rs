//! `hcp query`: polars SQL over the Parquet that hcp writes, for a quick look without a notebook.
//!
//! Every table found under the directory is registered under its name: hive-partitioned
//! datasets (`prices/market=.../`, `forecasts/target=.../`, ...) in the directory itself or one
//! level down (`hcp run`'s `history/`, `forecasts/`, `evaluation/`), and single Parquet files
//! there (`decisions.parquet` of a backtest, `forecasts.parquet` of an evaluation). A name found
//! twice is registered once per place, qualified by its directory (`evaluation_forecasts`).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use hcp_datasets::Table;
use polars::prelude::*;
use polars::sql::SQLContext;
use sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, JoinConstraint, JoinOperator, Select, TableFactor, VisitMut, VisitorMut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use crate::history::scan_table;
use crate::{Error, Result};

/// One table a query can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The SQL name.
    pub name: String,
    /// A dataset root's table directory, or a Parquet file.
    pub path: PathBuf,
    /// The canonical table it holds, when a hive dataset; `None` for a single file.
    pub table: Option<Table>,
}

/// The tables under `root`, sorted by name.
pub fn discover(root: &Path) -> Result<Vec<Registered>> {
    if !root.is_dir() {
        return Err(Error::Invalid(format!("{}: not a directory", root.display())));
    }
    let mut found: Vec<(String, Registered)> = Vec::new();
    let mut places = vec![(String::new(), root.to_path_buf())];
    for entry in sorted_entries(root)? {
        if entry.is_dir() {
            places.push((file_name(&entry), entry));
        }
    }
    for (qualifier, dir) in &places {
        for table in Table::ALL {
            let table_dir = dir.join(table.name());
            if is_hive_root(&table_dir, table)? {
                found.push((
                    qualifier.clone(),
                    Registered { name: table.name().into(), path: table_dir, table: Some(table) },
                ));
            }
        }
        for file in sorted_entries(dir)? {
            if file.is_file() && file.extension().is_some_and(|e| e == "parquet") {
                let stem = file.file_stem().map(|s| identifier(&s.to_string_lossy())).unwrap_or_default();
                found.push((qualifier.clone(), Registered { name: stem, path: file, table: None }));
            }
        }
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (_, r) in &found {
        *count.entry(r.name.clone()).or_default() += 1;
    }
    let mut tables: Vec<Registered> = found
        .into_iter()
        .map(|(qualifier, mut r)| {
            if count[&r.name] > 1 && !qualifier.is_empty() {
                r.name = format!("{}_{}", identifier(&qualifier), r.name);
            }
            r
        })
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    if tables.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no Parquet table here or one directory down (looked for {} and *.parquet)",
            root.display(),
            Table::ALL.map(|t| format!("{}/", t.name())).join(", ")
        )));
    }
    Ok(tables)
}

/// A directory named after `table` whose entries are its first partition key's directories.
fn is_hive_root(dir: &Path, table: Table) -> Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let prefix = format!("{}=", table.partition_keys()[0].key());
    Ok(sorted_entries(dir)?.iter().any(|e| e.is_dir() && file_name(e).starts_with(&prefix)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
    let mut entries = Vec::new();
    for entry in read {
        entries.push(entry.map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?.path());
    }
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A name usable unquoted in SQL: lower case letters, digits and `_`.
fn identifier(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Runs `sql` over the tables under `root` and collects the answer.
pub fn query(root: &Path, sql: &str) -> Result<DataFrame> {
    let tables = discover(root)?;
    let mut ctx = SQLContext::new();
    for t in &tables {
        let frame = match t.table {
            Some(table) => scan_table(t.path.parent().expect("a table directory has a parent"), table)?,
            None => LazyFrame::scan_parquet(PlRefPath::new(t.path.display().to_string()), ScanArgsParquet::default())?,
        };
        ctx.register(&t.name, frame);
    }
    let names = || tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    let placed = place_join_constants(sql);
    let frame = ctx
        .execute(placed.as_deref().unwrap_or(sql))
        .map_err(|e| Error::Invalid(format!("SQL: {e} (tables here: {})", names())))?;
    frame.collect().map_err(|e| Error::Invalid(format!("SQL: {e} (tables here: {})", names())))
}

/// `sql` with every column that a JOIN's ON compares for equality with a constant moved to the
/// side of the `=` of the join's input its table qualifier names (`p.node = 'A'` becomes
/// `'A' = p.node` when `p` is the table being joined); `None` when nothing moved or the SQL
/// does not parse (polars then says why).
///
/// Why: polars-sql 0.55 assigns the two sides of such an equality to the join's inputs by their
/// positions, not by the qualifier, whenever the column's name is in both inputs: `FROM f JOIN
/// prices p ON p.interval_start = f.target_time AND p.node = 'LZ_WEST'` then compares `f.node`
/// with the constant, and every node's prices join, silently (pola-rs/polars#28641 reports the
/// same misreading, as an error where only the joined table has the column; its fix,
/// pola-rs/polars#28701, is not in 0.55.2). An unqualified column is left where it is, as are
/// the `RIGHT SEMI` and `RIGHT ANTI` joins, whose inputs polars swaps.
fn place_join_constants(sql: &str) -> Option<String> {
    let mut statements = Parser::new(&GenericDialect)
        .with_options(ParserOptions { trailing_commas: true, ..Default::default() })
        .try_with_sql(sql)
        .ok()?
        .parse_statements()
        .ok()?;
    let mut placer = ConstantPlacer { moved: 0 };
    for statement in &mut statements {
        let _ = statement.visit(&mut placer);
    }
    (placer.moved > 0).then(|| statements.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n"))
}

struct ConstantPlacer {
    moved: usize,
}

impl VisitorMut for ConstantPlacer {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for from in &mut select.from {
            for join in &mut from.joins {
                let Some(joined) = relation_name(&join.relation) else { continue };
                let (JoinOperator::Join(JoinConstraint::On(on))
                | JoinOperator::Inner(JoinConstraint::On(on))
                | JoinOperator::Left(JoinConstraint::On(on))
                | JoinOperator::LeftOuter(JoinConstraint::On(on))
                | JoinOperator::Right(JoinConstraint::On(on))
                | JoinOperator::RightOuter(JoinConstraint::On(on))
                | JoinOperator::FullOuter(JoinConstraint::On(on))
                | JoinOperator::Semi(JoinConstraint::On(on))
                | JoinOperator::LeftSemi(JoinConstraint::On(on))
                | JoinOperator::Anti(JoinConstraint::On(on))
                | JoinOperator::LeftAnti(JoinConstraint::On(on))) = &mut join.join_operator
                else {
                    continue;
                };
                self.moved += place_in(on, &joined);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The name polars gives a joined relation: its alias, or a table's last name part.
fn relation_name(relation: &TableFactor) -> Option<String> {
    match relation {
        TableFactor::Table { name, alias, .. } => alias
            .as_ref()
            .map(|a| a.name.value.clone())
            .or_else(|| name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone())),
        TableFactor::Derived { alias, .. } | TableFactor::NestedJoin { alias, .. } => {
            alias.as_ref().map(|a| a.name.value.clone())
        }
        _ => None,
    }
}

/// Swaps the sides of each equality in `on`'s conjunction whose qualified column stands on the
/// side of the other input; how many it swapped.
fn place_in(on: &mut SqlExpr, joined: &str) -> usize {
    match on {
        SqlExpr::BinaryOp { left, op: BinaryOperator::And, right } => place_in(left, joined) + place_in(right, joined),
        SqlExpr::Nested(inner) => place_in(inner, joined),
        SqlExpr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            let misplaced = match (qualifier(left), qualifier(right)) {
                (Some(q), None) => is_constant(right) && q == joined,
                (None, Some(q)) => is_constant(left) && q != joined,
                _ => false,
            };
            if misplaced {
                std::mem::swap(left, right);
            }
            usize::from(misplaced)
        }
        _ => 0,
    }
}

/// The table qualifier of a column reference `t.c`.
fn qualifier(expr: &SqlExpr) -> Option<&str> {
    match expr {
        SqlExpr::CompoundIdentifier(parts) if parts.len() >= 2 => Some(parts[0].value.as_str()),
        SqlExpr::Nested(inner) => qualifier(inner),
        _ => None,
    }
}

/// A literal, possibly negated, cast or parenthesised.
fn is_constant(expr: &SqlExpr) -> bool {
    match expr {
        SqlExpr::Value(_) | SqlExpr::TypedString(_) => true,
        SqlExpr::UnaryOp { expr, .. } | SqlExpr::Nested(expr) | SqlExpr::Cast { expr, .. } => is_constant(expr),
        _ => false,
    }
}

/// The answer as an aligned text table: a header, the column types, the first `limit` rows
/// (numbers right-aligned, nulls as `null`) and a line with the shape.
pub fn render(df: &DataFrame, limit: usize) -> String {
    let shown = df.height().min(limit);
    let columns = df.columns();
    let cells: Vec<Vec<String>> = columns
        .iter()
        .map(|c| {
            let mut v = vec![c.name().to_string(), c.dtype().to_string()];
            // Strings as they are (their Display form adds quotes), everything else displayed.
            let text = |a: AnyValue<'_>| a.get_str().map_or_else(|| a.to_string(), str::to_string);
            v.extend((0..shown).map(|i| c.get(i).map(text).unwrap_or_default()));
            v
        })
        .collect();
    let widths: Vec<usize> = cells.iter().map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let numeric: Vec<bool> = columns.iter().map(|c| c.dtype().is_primitive_numeric()).collect();
    let mut out = String::new();
    for row in 0..shown + 2 {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(
                |((col, w), num)| {
                    if *num && row >= 2 { format!("{:>w$}", col[row]) } else { format!("{:<w$}", col[row]) }
                },
            )
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let more = if shown < df.height() { format!(", first {shown} shown (--limit)") } else { String::new() };
    out.push_str(&format!("{} rows × {} columns{more}\n", df.height(), df.width()));
    out
}

/// The answer written to `path` as CSV or Parquet (by its extension), whole or not at all: an
/// existing file is replaced only once the new one is complete.
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => CsvWriter::new(&mut bytes).finish(df)?,
        Some("parquet") => {
            ParquetWriter::new(&mut bytes).finish(df)?;
        }
        _ => {
            return Err(Error::Invalid(format!("--out {}: the file must end in .csv or .parquet", path.display())));
        }
    }
    hcp_datasets::writer::write_bytes_atomically(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each equality of a column with a constant ends on its input's side of `=`; the rest of
    /// the query is left as it was, and a query with nothing to move is not rewritten.
    #[test]
    fn constants_move_to_the_other_side_of_their_columns_input() {
        let moved = place_join_constants(
            "SELECT * FROM f JOIN p ON f.k = p.k AND p.node = 'A' AND 'B' = f.node AND p.w > 1 WHERE f.v < 3",
        );
        assert_eq!(
            moved.as_deref(),
            Some("SELECT * FROM f JOIN p ON f.k = p.k AND 'A' = p.node AND f.node = 'B' AND p.w > 1 WHERE f.v < 3")
        );
        let nested =
            place_join_constants("SELECT * FROM (SELECT f.k FROM f JOIN p AS q ON f.k = q.k AND q.node = -1) AS s");
        assert_eq!(
            nested.as_deref(),
            Some("SELECT * FROM (SELECT f.k FROM f JOIN p AS q ON f.k = q.k AND -1 = q.node) AS s")
        );
        for unchanged in [
            "SELECT * FROM f JOIN p ON f.k = p.k AND 'A' = p.node",
            "SELECT * FROM f JOIN p ON f.k = p.k AND f.node = 'A'",
            "SELECT * FROM f JOIN p ON f.k = p.k AND node = 'A'",
            "SELECT * FROM f, p WHERE f.k = p.k AND p.node = 'A'",
            "SELEC nonsense",
        ] {
            assert_eq!(place_join_constants(unchanged), None, "{unchanged}");
        }
    }
}
