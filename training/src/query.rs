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
    BinaryOperator, DataType, Expr as SqlExpr, Ident, JoinConstraint, JoinOperator, Select, TableFactor, TypedString,
    UnaryOperator, Value, ValueWithSpan, VisitMut, VisitorMut, visit_expressions,
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
    let mended = mend(sql).map_err(|refusal| Error::Invalid(format!("SQL: {refusal}")))?;
    let frame = ctx
        .execute(mended.as_deref().unwrap_or(sql))
        .map_err(|e| Error::Invalid(format!("SQL: {e} (tables here: {})", names())))?;
    frame.collect().map_err(|e| Error::Invalid(format!("SQL: {e} (tables here: {})", names())))
}

/// `sql` rewritten where polars-sql 0.55 would misread a JOIN's ON clause and answer wrongly
/// without an error, or refuse an instant written as hcp writes them; `Ok(None)` when nothing
/// needed rewriting or the SQL does not parse (polars then says why), `Err` naming the condition
/// or literal when no rewrite keeps the meaning.
///
/// Two misreadings, both silent:
/// - **A column compared with a constant** (`p.node = 'A'`): polars assigns the two sides of an
///   equality to the join's inputs by their positions, not by the qualifier, whenever the
///   column's name is in both inputs. `FROM f JOIN prices p ON p.interval_start = f.target_time
///   AND p.node = 'LZ_WEST'` then compares `f.node` with the constant, and every node's prices
///   join (pola-rs/polars#28641 reports the same misreading, as an error where only the joined
///   table has the column; its fix, pola-rs/polars#28701, is not in 0.55.2). Each such column is
///   moved to the side of `=` of its input (`'LZ_WEST' = p.node`). An unqualified column is left
///   where it is, as are the `RIGHT SEMI` and `RIGHT ANTI` joins, whose inputs polars swaps.
/// - **An outer join's condition other than `=`** (`<`, `<=`, `>`, `>=`, `<>`): polars joins on
///   such a condition as a cross join filtered by it, so a LEFT, RIGHT or FULL JOIN loses every
///   row without a match, as an inner join would (pola-rs/polars#28875). In a LEFT JOIN, a
///   condition that names the joined table alone is moved into a subquery over that table
///   (`LEFT JOIN (SELECT * FROM s WHERE s.t < 10) AS s ON s.k = v.k`), which means the same; any
///   other such condition is refused.
///
/// And one refusal: polars compares hcp's UTC timestamps with text in UTC without a zone
/// (`interval_start >= '2025-02-01 06:00:00'`) but refuses an instant with its zone, as hcp
/// prints them (`'2025-02-01T06:00:00Z'`, `'2025-02-01T00:00:00-06:00'`), and a `TIMESTAMP`
/// literal. In a comparison (`=`, `<>`, `<`, `<=`, `>`, `>=`, `BETWEEN`), each becomes the
/// instant's UTC text without a zone (a `TIMESTAMP` without a zone is read as UTC), and an `IN`
/// list holding one becomes equalities joined by OR; a `TIMESTAMP` that is not an instant is
/// refused.
fn mend(sql: &str) -> std::result::Result<Option<String>, String> {
    let Ok(mut statements) = Parser::new(&GenericDialect)
        .with_options(ParserOptions { trailing_commas: true, ..Default::default() })
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
    else {
        return Ok(None);
    };
    let mut mender = Mender { rewrites: 0 };
    for statement in &mut statements {
        if let ControlFlow::Break(refusal) = statement.visit(&mut mender) {
            return Err(refusal);
        }
    }
    Ok((mender.rewrites > 0).then(|| statements.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n")))
}

struct Mender {
    rewrites: usize,
}

impl VisitorMut for Mender {
    type Break = String;

    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<String> {
        let operands: Vec<&mut SqlExpr> = match expr {
            SqlExpr::BinaryOp { left, op, right } if is_comparison(op) => vec![left, right],
            SqlExpr::Between { low, high, .. } => vec![low, high],
            SqlExpr::InList { list, .. } => list.iter_mut().collect(),
            _ => return ControlFlow::Continue(()),
        };
        let mut rewritten = 0;
        for operand in operands {
            match utc_text(operand) {
                Ok(done) => rewritten += usize::from(done),
                Err(refusal) => return ControlFlow::Break(refusal),
            }
        }
        // polars casts an IN list's text to the column's type, which wants the zone and which it
        // deprecates (with a warning on stderr); equalities compare as the comparisons above do.
        if let SqlExpr::InList { expr: column, list, negated } = expr
            && rewritten > 0
        {
            let equal = |item: SqlExpr| SqlExpr::BinaryOp {
                left: column.clone(),
                op: BinaryOperator::Eq,
                right: Box::new(item),
            };
            let any = list
                .drain(..)
                .map(equal)
                .reduce(|a, b| SqlExpr::BinaryOp { left: Box::new(a), op: BinaryOperator::Or, right: Box::new(b) })
                .map(|any| SqlExpr::Nested(Box::new(any)))
                .expect("a list with a rewritten item");
            *expr = if *negated { SqlExpr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(any) } } else { any };
        }
        self.rewrites += rewritten;
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<String> {
        for from in &mut select.from {
            for join in &mut from.joins {
                let joined = relation_name(&join.relation);
                let name = joined.as_ref().map_or("", |j| j.value.as_str());
                let (kind, on) =
                    match &mut join.join_operator {
                        JoinOperator::Left(JoinConstraint::On(on))
                        | JoinOperator::LeftOuter(JoinConstraint::On(on)) => (Some("LEFT"), on),
                        JoinOperator::Right(JoinConstraint::On(on))
                        | JoinOperator::RightOuter(JoinConstraint::On(on)) => (Some("RIGHT"), on),
                        JoinOperator::FullOuter(JoinConstraint::On(on)) => (Some("FULL"), on),
                        JoinOperator::Join(JoinConstraint::On(on))
                        | JoinOperator::Inner(JoinConstraint::On(on))
                        | JoinOperator::Semi(JoinConstraint::On(on))
                        | JoinOperator::LeftSemi(JoinConstraint::On(on))
                        | JoinOperator::Anti(JoinConstraint::On(on))
                        | JoinOperator::LeftAnti(JoinConstraint::On(on)) => (None, on),
                        _ => continue,
                    };
                if let Some(condition) = non_comparison(on) {
                    return ControlFlow::Break(format!(
                        "`{condition}` in the ON of a JOIN: polars-sql 0.55 joins only on comparisons (`=`, `<`, `<=`, \
                         `>`, `>=`, `<>`) joined by AND; filter the joined table in a subquery instead (`JOIN (SELECT * \
                         FROM s WHERE ...) AS s ON ...`)"
                    ));
                }
                if let Some(kind) = kind {
                    let pushed = match split_outer_condition(on, kind, name) {
                        Ok(pushed) => pushed,
                        Err(refusal) => return ControlFlow::Break(refusal),
                    };
                    if !pushed.is_empty() {
                        match filtered(&join.relation, joined.as_ref(), pushed) {
                            Ok(relation) => join.relation = relation,
                            Err(refusal) => return ControlFlow::Break(refusal),
                        }
                        self.rewrites += 1;
                    }
                }
                if !name.is_empty() {
                    self.rewrites += place_in(on, name);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The name polars gives a joined relation: its alias, or a table's last name part.
fn relation_name(relation: &TableFactor) -> Option<Ident> {
    match relation {
        TableFactor::Table { name, alias, .. } => {
            alias.as_ref().map(|a| a.name.clone()).or_else(|| name.0.last().and_then(|p| p.as_ident()).cloned())
        }
        TableFactor::Derived { alias, .. } | TableFactor::NestedJoin { alias, .. } => {
            alias.as_ref().map(|a| a.name.clone())
        }
        _ => None,
    }
}

/// Takes out of an outer join's `on` the conditions other than equalities, which polars would
/// misread (see [`mend`]), and returns them: each must name the joined table alone, in a
/// LEFT JOIN, beside at least one condition left in `on`; anything else is refused.
fn split_outer_condition(on: &mut SqlExpr, kind: &str, joined: &str) -> std::result::Result<Vec<SqlExpr>, String> {
    let mut parts = Vec::new();
    conjuncts(on.clone(), &mut parts);
    let (unequal, kept): (Vec<SqlExpr>, Vec<SqlExpr>) =
        parts.into_iter().partition(|c| comparison(c).is_some_and(is_unequal));
    let Some(first) = unequal.first() else { return Ok(Vec::new()) };
    let refuse = |condition: &SqlExpr, why: &str| {
        format!(
            "`{condition}` in the ON of a {kind} JOIN: polars-sql 0.55 would drop the rows without a match, \
             as an inner join does (pola-rs/polars#28875). hcp query can move into a subquery only a LEFT \
             JOIN's condition that names the joined table alone, beside an equality (`LEFT JOIN s ON s.k = v.k \
             AND s.t < 10`){why}"
        )
    };
    match kind {
        "LEFT" => {}
        "RIGHT" => return Err(refuse(first, "; swap the tables and write it as a LEFT JOIN")),
        _ => return Err(refuse(first, "")),
    }
    for condition in &unequal {
        if let Some(why) = foreign_reference(condition, joined) {
            return Err(refuse(condition, &format!("; here {why}")));
        }
    }
    let Some(rest) = kept.into_iter().reduce(and) else {
        return Err(refuse(first, "; here no equality is left to join on"));
    };
    *on = rest;
    Ok(unequal)
}

/// The conditions of a conjunction, through parentheses around conjunctions.
fn conjuncts(expr: SqlExpr, into: &mut Vec<SqlExpr>) {
    match expr {
        SqlExpr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(*left, into);
            conjuncts(*right, into);
        }
        SqlExpr::Nested(inner) if matches!(*inner, SqlExpr::BinaryOp { op: BinaryOperator::And, .. }) => {
            conjuncts(*inner, into)
        }
        other => into.push(other),
    }
}

fn and(left: SqlExpr, right: SqlExpr) -> SqlExpr {
    SqlExpr::BinaryOp { left: Box::new(left), op: BinaryOperator::And, right: Box::new(right) }
}

/// `<>`, `<`, `<=`, `>` or `>=`.
fn is_unequal(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::NotEq | BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq
    )
}

/// `=` or an [`is_unequal`] operator.
fn is_comparison(op: &BinaryOperator) -> bool {
    *op == BinaryOperator::Eq || is_unequal(op)
}

/// The operator of a comparison, possibly parenthesised.
fn comparison(expr: &SqlExpr) -> Option<&BinaryOperator> {
    match expr {
        SqlExpr::BinaryOp { op, .. } if is_comparison(op) => Some(op),
        SqlExpr::Nested(inner) => comparison(inner),
        _ => None,
    }
}

/// The first condition of `on`'s conjunction that is not a comparison, which polars-sql 0.55
/// refuses with its syntax tree for a message (`IN`, `LIKE`, `BETWEEN`, `IS NULL`, `OR`, `NOT`).
fn non_comparison(on: &SqlExpr) -> Option<SqlExpr> {
    let mut parts = Vec::new();
    conjuncts(on.clone(), &mut parts);
    parts.into_iter().find(|c| comparison(c).is_none())
}

/// Turns an instant with its zone, in text or a `TIMESTAMP` literal, into its UTC text without a
/// zone, which polars compares with a UTC column (see [`mend`]); whether it did.
fn utc_text(operand: &mut SqlExpr) -> std::result::Result<bool, String> {
    let utc = match operand {
        SqlExpr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) => match zoned_instant(text) {
            Some(instant) => instant,
            None => return Ok(false),
        },
        _ => {
            let Some(text) = timestamp_literal(operand) else { return Ok(false) };
            zoned_instant(&text).or_else(|| utc_wall_clock(&text)).ok_or_else(|| {
                format!(
                    "`{operand}` is not an instant: write it as TIMESTAMP '2025-02-01 06:00:00' (UTC) or \
                     '2025-02-01T00:00:00-06:00'"
                )
            })?
        }
    };
    let text = utc.format("%Y-%m-%d %H:%M:%S%.f").to_string();
    *operand = SqlExpr::Value(Value::SingleQuotedString(text).with_empty_span());
    Ok(true)
}

/// The text of a `TIMESTAMP '...'` literal, or of text cast to a timestamp.
fn timestamp_literal(expr: &SqlExpr) -> Option<String> {
    match expr {
        SqlExpr::TypedString(TypedString { data_type, value, .. }) if is_timestamp(data_type) => {
            value.value.clone().into_string()
        }
        SqlExpr::Cast { expr, data_type, .. } if is_timestamp(data_type) => match expr.as_ref() {
            SqlExpr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn is_timestamp(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(..) | DataType::Datetime(_) | DataType::TimestampNtz(_))
}

/// An RFC 3339 instant with its zone (`Z` or an offset, which may lack its minutes; a space for
/// the `T` is accepted).
fn zoned_instant(text: &str) -> Option<chrono::NaiveDateTime> {
    let text = text.trim();
    if text.len() < 20 || !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    let rfc3339 = format!("{}T{}", &text[..10], &text[11..]);
    chrono::DateTime::parse_from_rfc3339(&rfc3339)
        .or_else(|_| chrono::DateTime::parse_from_str(&rfc3339, "%Y-%m-%dT%H:%M:%S%.f%#z"))
        .ok()
        .map(|t| t.naive_utc())
}

/// A date and time without a zone, or a date (its midnight), read as UTC.
fn utc_wall_clock(text: &str) -> Option<chrono::NaiveDateTime> {
    let text = text.trim();
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// Why `condition` cannot move into a subquery over `joined`: a column of another table, a
/// column without its table, or a subquery; `None` when it names `joined`'s columns alone.
fn foreign_reference(condition: &SqlExpr, joined: &str) -> Option<String> {
    let found = visit_expressions(condition, |e| match e {
        SqlExpr::Identifier(column) => ControlFlow::Break(format!("`{column}` does not name its table")),
        SqlExpr::CompoundIdentifier(parts) if parts.len() >= 2 && parts[0].value != joined => {
            ControlFlow::Break(format!("`{e}` is not a column of `{joined}`, the joined table"))
        }
        SqlExpr::Subquery(_) | SqlExpr::Exists { .. } | SqlExpr::InSubquery { .. } => {
            ControlFlow::Break("it holds a subquery".to_string())
        }
        _ => ControlFlow::Continue(()),
    });
    match found {
        ControlFlow::Break(why) => Some(why),
        ControlFlow::Continue(()) => None,
    }
}

/// `relation` filtered by `conditions` in a subquery under the same name.
fn filtered(
    relation: &TableFactor,
    name: Option<&Ident>,
    conditions: Vec<SqlExpr>,
) -> std::result::Result<TableFactor, String> {
    let condition = conditions.into_iter().reduce(and).expect("at least one condition");
    let Some(name) = name else {
        return Err(format!(
            "`{condition}` in the ON of a LEFT JOIN: polars-sql 0.55 would drop the rows without a match, as an \
             inner join does (pola-rs/polars#28875), and the joined relation `{relation}` has no name to filter it \
             under in a subquery: give it an alias"
        ));
    };
    let text = format!("(SELECT * FROM {relation} WHERE {condition}) AS {name}");
    Parser::new(&GenericDialect)
        .try_with_sql(&text)
        .and_then(|mut parser| parser.parse_table_factor())
        .map_err(|e| format!("rewriting the join as `{text}`: {e}"))
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

/// Refuses an `--out` that is one of the tables under `data` or inside one: the answer would
/// replace hcp's data there (a table's part file, which it overwrote) or join a table's parts
/// with a schema of its own. A new file beside them is fine (a Parquet one is read as a table
/// of its own by the next query).
pub fn check_out(data: &Path, out: &Path) -> Result<()> {
    // `..` taken lexically, then the nearest directory of `out` that exists resolved (links
    // and all) and the rest joined back on.
    let absolute = std::path::absolute(out).map_err(|e| Error::Invalid(format!("--out {}: {e}", out.display())))?;
    let absolute = absolute.components().fold(PathBuf::new(), |mut p, c| {
        match c {
            std::path::Component::ParentDir => {
                p.pop();
            }
            std::path::Component::CurDir => {}
            other => p.push(other),
        }
        p
    });
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let resolved = loop {
        if let Ok(real) = existing.canonicalize() {
            break rest.iter().rev().fold(real, |p: PathBuf, c| p.join(c));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break absolute.clone(),
        }
    };
    for table in discover(data)? {
        let place = table.path.canonicalize().map_err(|e| Error::Invalid(format!("{}: {e}", table.path.display())))?;
        if resolved.starts_with(&place) {
            return Err(Error::Invalid(format!(
                "--out {} would replace or join table `{}` ({}): write the answer elsewhere",
                out.display(),
                table.name,
                table.path.display()
            )));
        }
    }
    Ok(())
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
        let moved =
            mend("SELECT * FROM f JOIN p ON f.k = p.k AND p.node = 'A' AND 'B' = f.node AND p.w > 1 WHERE f.v < 3");
        assert_eq!(
            moved.as_ref().map(Option::as_deref),
            Ok(Some("SELECT * FROM f JOIN p ON f.k = p.k AND 'A' = p.node AND f.node = 'B' AND p.w > 1 WHERE f.v < 3"))
        );
        let nested = mend("SELECT * FROM (SELECT f.k FROM f JOIN p AS q ON f.k = q.k AND q.node = -1) AS s");
        assert_eq!(
            nested.as_ref().map(Option::as_deref),
            Ok(Some("SELECT * FROM (SELECT f.k FROM f JOIN p AS q ON f.k = q.k AND -1 = q.node) AS s"))
        );
        for unchanged in [
            "SELECT * FROM f JOIN p ON f.k = p.k AND 'A' = p.node",
            "SELECT * FROM f JOIN p ON f.k = p.k AND f.node = 'A'",
            "SELECT * FROM f JOIN p ON f.k = p.k AND node = 'A'",
            "SELECT * FROM f, p WHERE f.k = p.k AND p.node = 'A'",
            "SELECT * FROM f LEFT JOIN p ON f.k = p.k AND 'A' = p.node",
            "SELECT * FROM f JOIN p ON f.k = p.k AND p.w > f.v",
            "SELEC nonsense",
        ] {
            assert_eq!(mend(unchanged), Ok(None), "{unchanged}");
        }
    }

    /// A LEFT JOIN's conditions other than `=` on the joined table alone move into a subquery
    /// over it, under the same name; the equalities stay in ON, parenthesised disjunctions stay
    /// whole, and the constants still move.
    #[test]
    fn a_left_joins_unequal_conditions_move_into_a_subquery() {
        let rewritten = |sql: &str| mend(sql).unwrap().unwrap_or_else(|| panic!("{sql}: not rewritten"));
        assert_eq!(
            rewritten("SELECT * FROM f LEFT JOIN p ON f.k = p.k AND p.w > 1 AND p.node = 'A'"),
            "SELECT * FROM f LEFT JOIN (SELECT * FROM p WHERE p.w > 1) AS p ON f.k = p.k AND 'A' = p.node"
        );
        assert_eq!(
            rewritten("SELECT * FROM f LEFT OUTER JOIN prices AS q ON (q.w <> 0 AND f.k = q.k) AND (abs(q.w) <= 5)"),
            "SELECT * FROM f LEFT OUTER JOIN (SELECT * FROM prices AS q WHERE q.w <> 0 AND (abs(q.w) <= 5)) AS q \
             ON f.k = q.k"
        );
        assert_eq!(
            rewritten("SELECT * FROM f LEFT JOIN (SELECT * FROM p) AS d ON d.k = f.k AND d.w < 1"),
            "SELECT * FROM f LEFT JOIN (SELECT * FROM (SELECT * FROM p) AS d WHERE d.w < 1) AS d ON d.k = f.k"
        );
    }

    /// A condition polars cannot join on is named in plain SQL, not in polars' syntax tree.
    #[test]
    fn a_joins_condition_other_than_a_comparison_is_named() {
        for (condition, join) in [
            ("p.node IN ('A')", "JOIN"),
            ("p.w IS NULL", "LEFT JOIN"),
            ("(p.w = 1 OR p.w = 2)", "JOIN"),
            ("NOT p.w = 1", "LEFT JOIN"),
            ("p.node LIKE 'A%'", "JOIN"),
        ] {
            let sql = format!("SELECT * FROM f {join} p ON f.k = p.k AND {condition}");
            let refusal = mend(&sql).expect_err(&sql);
            assert!(refusal.starts_with(&format!("`{condition}` in the ON")), "{sql}: {refusal}");
        }
    }

    /// Instants with their zone, and `TIMESTAMP` literals, become UTC text without a zone in
    /// comparisons, and an `IN` list holding one becomes equalities; other text, dates and a
    /// date-only string stay as written.
    #[test]
    fn instants_become_utc_text_in_comparisons() {
        let rewritten = |sql: &str| mend(sql).unwrap().unwrap_or_else(|| panic!("{sql}: not rewritten"));
        assert_eq!(
            rewritten("SELECT * FROM p WHERE t >= '2025-02-01T00:00:00-06:00' AND t < TIMESTAMP '2025-02-02'"),
            "SELECT * FROM p WHERE t >= '2025-02-01 06:00:00' AND t < '2025-02-02 00:00:00'"
        );
        assert_eq!(
            rewritten(
                "SELECT * FROM p WHERE t BETWEEN '2025-02-01 00:00:00.5Z' AND TIMESTAMP '2025-02-01 03:00:00+03'"
            ),
            "SELECT * FROM p WHERE t BETWEEN '2025-02-01 00:00:00.500' AND '2025-02-01 00:00:00'"
        );
        assert_eq!(
            rewritten("SELECT * FROM p WHERE t IN ('2025-02-01T00:00:00Z', TIMESTAMP '2025-02-01 01:00')"),
            "SELECT * FROM p WHERE (t = '2025-02-01 00:00:00' OR t = '2025-02-01 01:00:00')"
        );
        assert_eq!(
            rewritten("SELECT * FROM p WHERE t NOT IN ('2025-02-01T00:00:00Z', '2025-02-01 01:00:00')"),
            "SELECT * FROM p WHERE NOT (t = '2025-02-01 00:00:00' OR t = '2025-02-01 01:00:00')"
        );
        for unchanged in [
            "SELECT * FROM p WHERE t >= '2025-02-01 06:00:00'",
            "SELECT * FROM p WHERE d = '2025-02-01' AND d IN ('2025-02-02')",
            "SELECT * FROM p WHERE t < DATE '2025-02-01'",
            "SELECT '2025-02-01T00:00:00Z' AS s FROM p",
            "SELECT * FROM p WHERE node = 'HB_WEST'",
        ] {
            assert_eq!(mend(unchanged), Ok(None), "{unchanged}");
        }
        assert_eq!(
            rewritten("SELECT * FROM p WHERE t < CAST('2025-02-01T00:00:00Z' AS TIMESTAMP)"),
            "SELECT * FROM p WHERE t < '2025-02-01 00:00:00'"
        );
        let refusal = mend("SELECT * FROM p WHERE t > TIMESTAMP 'yesterday'").unwrap_err();
        assert!(refusal.starts_with("`TIMESTAMP 'yesterday'` is not an instant"), "{refusal}");
        let refusal = mend("SELECT * FROM p WHERE t > CAST('noon' AS TIMESTAMP)").unwrap_err();
        assert!(refusal.starts_with("`CAST('noon' AS TIMESTAMP)` is not an instant"), "{refusal}");
    }

    /// What no rewrite keeps the meaning of is refused, naming the condition and why.
    #[test]
    fn an_outer_joins_other_unequal_conditions_are_refused() {
        for (sql, named) in [
            ("SELECT * FROM f LEFT JOIN p ON f.k = p.k AND f.v > 1", "`f.v` is not a column of `p`"),
            ("SELECT * FROM f LEFT JOIN p ON f.k = p.k AND p.w > f.v", "`f.v` is not a column of `p`"),
            ("SELECT * FROM f LEFT JOIN p ON f.k = p.k AND w > 1", "`w` does not name its table"),
            ("SELECT * FROM f LEFT JOIN p ON p.w > 1", "no equality is left"),
            ("SELECT * FROM f RIGHT JOIN p ON f.k = p.k AND p.w > 1", "write it as a LEFT JOIN"),
            ("SELECT * FROM f FULL JOIN p ON f.k = p.k AND p.w > 1", "FULL JOIN"),
            ("SELECT * FROM f LEFT JOIN p ON f.k = p.k AND p.w > (SELECT max(v) FROM f)", "subquery"),
        ] {
            let refusal = mend(sql).expect_err(sql);
            assert!(refusal.contains(named) && refusal.contains("pola-rs/polars#28875"), "{sql}: {refusal}");
        }
    }
}
