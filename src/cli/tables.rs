//! Executes a plan: opens both stores, checks every table before touching
//! any, then compares (and in `sync`, repairs) them one by one.

use std::sync::Arc;
use std::time::Instant;

use crate::connector::{self, Access};
use crate::engine::apply::{Applier, Printer, ReportOnly, WriteGuard};
use crate::engine::diff::{self, DiffOptions, DiffSink};
use crate::engine::empty::EmptyDataset;
use crate::engine::error::{EngineError, Side, StoreError};
use crate::engine::matching;
use crate::engine::progress::Progress;
use crate::engine::report::{DatasetReport, Report, SchemaReport, TableAction};
use crate::engine::retry::RetryPolicy;
use crate::engine::state::{Checkpoint, DatasetState, StateStore};
use crate::engine::store::{Dataset, Projection, Store, TableSchema};

use super::args::Format;
use super::output::Output;
use super::plan::{Mode, Plan, TablesPlan};
use super::profile::TableRule;
use crate::engine::dependencies;
use crate::engine::zoom::Zoom;
use std::collections::{BTreeSet, HashMap};

/// One table, checked and ready to compare.
#[derive(Clone)]
struct TablePlan {
    source: TableSchema,
    /// `None` when the target lacks the table.
    target: Option<TableSchema>,
    /// The statements creating the target table, when it is missing and
    /// the run creates tables.
    create: Option<Vec<String>>,
    /// Both sides' columns by SOURCE's names.
    projection: Projection,
    /// A profile's renames, SOURCE name → TARGET name.
    renames: Vec<(String, String)>,
    /// Why the table is hashed otherwise than `--checksum` asked.
    checksum_note: Option<String>,
    /// The rule's zoom, or the run's.
    zoom: Zoom,
    /// The run's writes, narrowed by the rule's `delete = false`.
    guard: WriteGuard,
    /// `--lite`'s column here: the rule's, else the run's.
    lite_column: Option<String>,
    /// The rule's `target_query`: what TARGET reads in place of its table.
    target_query: Option<String>,
    /// `--format jsonl` lists this comparison's keys (not the second,
    /// deletes-only comparison of a table other tables reference).
    listed: bool,
}

impl TablePlan {
    /// The projection as TARGET names its columns.
    fn on_target(&self, p: &Projection) -> Projection {
        let name = |c: &String| self.renames.iter().find(|(s, _)| s == c).map_or_else(|| c.clone(), |(_, t)| t.clone());
        Projection {
            columns: p.columns.iter().map(name).collect(),
            key: p.key.iter().map(name).collect(),
            since: p.since.as_ref().map(|(c, v)| (name(c), v.clone())),
            // TARGET reads its table, or the rule's target_query.
            query: self.target_query.clone(),
            ..p.clone()
        }
    }
}

/// Renames a schema's columns (`from` → `to` of each pair); a same-engine
/// definition, which names the old ones, is dropped for the type mapping.
fn renamed(mut schema: TableSchema, pairs: impl Iterator<Item = (String, String)>) -> TableSchema {
    // Each name mapped once, so that swapped names stay apart.
    let pairs: Vec<(String, String)> = pairs.collect();
    let map = |n: &str| pairs.iter().find(|(from, _)| from == n).map(|(_, to)| to.clone());
    for c in &mut schema.columns {
        if let Some(to) = map(&c.name) {
            c.name = to;
        }
    }
    for k in &mut schema.key {
        if let Some(to) = map(k) {
            *k = to;
        }
    }
    if !pairs.is_empty() {
        schema.definition.clear();
    }
    schema
}

pub async fn execute(plan: &Plan, run: &TablesPlan, state: Option<Arc<StateStore>>, progress: &dyn Progress) -> Result<Report, EngineError> {
    let started = Instant::now();
    // Both sides are checked read-only first, so bad input (an unknown
    // table, mismatched columns) leaves no trace, not even a new empty file.
    let (source, target) = open_both(plan).await?;
    let tables = resolve_tables(plan, run, source.as_ref(), target.as_deref()).await?;
    let mut notes = target_only_tables(plan, run, &tables, target.as_deref()).await?;
    notes.extend(tables.iter().filter_map(|t| t.checksum_note.clone()));
    let (tables, held_back) = in_dependency_order(plan, tables, source.as_ref(), target.as_deref(), &mut notes).await?;
    let target = reopen_for_writing(plan, target).await?;
    if let Mode::Sync { delete: true, .. } = plan.mode {
        if !target.as_ref().is_none_or(|t| t.capabilities().can_delete) {
            return Err(EngineError::Usage(format!("{} cannot delete rows; run without --delete", plan.target)));
        }
    }
    // --lite's watermarks, each read before any table is compared.
    let mut lites = Vec::new();
    for table in &tables {
        lites.push(match plan.lite {
            true => lite_since(plan, table, source.as_ref(), target.as_deref(), state.as_deref(), &mut notes).await?,
            false => None,
        });
    }
    if let (Some(limit), Some(target)) = (plan.max_delete, target.as_deref()) {
        // Every table is checked before any is written.
        for (table, lite) in tables.iter().zip(&lites) {
            check_delete_limit(plan, run, table, lite.as_ref(), source.as_ref(), target, limit, progress).await?;
        }
    }
    let mut reports = Vec::new();
    for (table, lite) in tables.iter().zip(lites) {
        tracing::info!(table = %table.source.name, "comparing");
        // A parent's deletes wait for its children (below).
        let table = match held_back.contains(&table.source.name) {
            true => &TablePlan { guard: table.guard.deletes_only_if(false), ..table.clone() },
            false => table,
        };
        reports.push(run_table(plan, run, table, lite, source.as_ref(), target.as_deref(), state.clone(), progress, &mut notes).await?);
    }
    // Then the parents' deletes, children first: no row is deleted while a
    // row of another table still points at it. Compared again, without the
    // state store (the first pass marked its ranges done).
    for (i, table) in tables.iter().enumerate().rev().filter(|(_, t)| held_back.contains(&t.source.name)) {
        tracing::info!(table = %table.source.name, "deleting after its children");
        // Its keys were listed by the first comparison.
        let again = TablePlan { listed: false, ..table.clone() };
        let deleted = run_table(plan, run, &again, None, source.as_ref(), target.as_deref(), None, progress, &mut notes).await?;
        let first = &mut reports[i];
        first.add_work(&deleted);
        first.remaining = deleted.remaining;
    }
    Ok(Report::finished(plan.command_name(), plan.dry_run(), reports, notes, false, started))
}

/// The tables in the order their foreign keys ask for (parents first: as
/// TARGET declares them, or SOURCE for a table the run creates from its
/// definition), and the parents whose deletes wait for their children:
/// those another picked table references, when the run deletes.
async fn in_dependency_order(
    plan: &Plan,
    tables: Vec<TablePlan>,
    source: &dyn Store,
    target: Option<&dyn Store>,
    notes: &mut Vec<String>,
) -> Result<(Vec<TablePlan>, BTreeSet<String>), EngineError> {
    // A printed script runs in this order too.
    if !(plan.writes() || plan.print) {
        return Ok((tables, BTreeSet::new()));
    }
    let names: Vec<String> = tables.iter().map(|t| t.source.name.clone()).collect();
    // A table TARGET lacks (or a TARGET not there yet: a new SQLite file)
    // is created from SOURCE's definition, keys and all.
    let on_target = match target {
        Some(t) => t.foreign_keys().await?,
        None => HashMap::new(),
    };
    let on_source = match tables.iter().any(|t| t.target.is_none() || target.is_none()) {
        true => source.foreign_keys().await?,
        false => HashMap::new(),
    };
    let parents: HashMap<String, Vec<String>> = tables
        .iter()
        .map(|t| {
            let declared = if t.target.is_some() && target.is_some() { &on_target } else { &on_source };
            (t.source.name.clone(), declared.get(&t.source.name).cloned().unwrap_or_default())
        })
        .collect();
    let (order, cyclic) = dependencies::parents_first(&names, &parents);
    if !cyclic.is_empty() {
        notes.push(format!(
            "the foreign keys of {} reference each other in a cycle: they are written in the order given, and a row whose parent comes later may be refused",
            cyclic.join(", ")
        ));
    }
    // --lite never deletes.
    let deletes = matches!(plan.mode, Mode::Sync { delete: true, dry_run: false, .. }) && !plan.lite;
    // Only a table that exists can hold rows to delete (one the run
    // creates is created by the first comparison), and only one its rule
    // lets delete.
    let can_delete: BTreeSet<&str> = tables.iter().filter(|t| t.target.is_some() && t.guard.allows_delete()).map(|t| t.source.name.as_str()).collect();
    let held_back = match deletes {
        true => dependencies::referenced(&names, &parents).into_iter().filter(|t| can_delete.contains(t.as_str())).collect(),
        false => BTreeSet::new(),
    };
    let mut slots: Vec<Option<TablePlan>> = tables.into_iter().map(Some).collect();
    Ok((order.into_iter().filter_map(|i| slots[i].take()).collect(), held_back))
}

/// `rangesync schema`: creates the tables TARGET lacks, leaves the others.
pub async fn schema(plan: &Plan, run: &TablesPlan) -> Result<SchemaReport, EngineError> {
    let started = Instant::now();
    let (source, target) = open_both(plan).await?;
    let tables = resolve_tables(plan, run, source.as_ref(), target.as_deref()).await?;
    let target = reopen_for_writing(plan, target).await?;
    let guard = plan.mode.write_guard();
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    // Parents first: a definition carried over whole (SQLite to SQLite,
    // MySQL to MySQL) names its parents, which MySQL wants there already.
    let names: Vec<String> = tables.iter().map(|t| t.source.name.clone()).collect();
    let parents = source.foreign_keys().await?;
    let (order, _) = dependencies::parents_first(&names, &parents);
    for table in order.into_iter().map(|i| &tables[i]) {
        let name = &table.source.name;
        if let Some(statements) = &table.create {
            let parents = parents.get(name).map_or(&[][..], Vec::as_slice);
            let kept = statements.iter().any(|s| s.to_ascii_uppercase().contains("REFERENCES"));
            if !parents.is_empty() && !kept {
                notes.push(format!(
                    "table {name} is created without its foreign keys (to {}): rangesync writes parent tables first either way; add the keys once the data is in",
                    parents.join(", ")
                ));
            }
        }
        let action = match (&table.create, target.as_deref()) {
            (Some(statements), Some(t)) => {
                create_checked(&guard, t, table, statements, plan).await?;
                TableAction { name: name.clone(), action: if plan.dry_run() { "would create" } else { "created" }, statements: statements.clone() }
            }
            (Some(statements), None) => TableAction { name: name.clone(), action: "would create", statements: statements.clone() },
            (None, _) => TableAction { name: name.clone(), action: "exists", statements: Vec::new() },
        };
        actions.push(action);
    }
    Ok(SchemaReport { command: "schema", dry_run: plan.dry_run(), tables: actions, notes, elapsed_ms: started.elapsed().as_millis() as u64 })
}

async fn open_both(plan: &Plan) -> Result<(Box<dyn Store>, Option<Box<dyn Store>>), EngineError> {
    tokio::try_join!(
        async { connector::open_side(Side::Source, &plan.source, Access::Read).await.map_err(EngineError::from) },
        open_target(plan),
    )
}

/// Once every table checked out, the target is opened for writing, and
/// only if the run writes.
async fn reopen_for_writing(plan: &Plan, target: Option<Box<dyn Store>>) -> Result<Option<Box<dyn Store>>, EngineError> {
    if !plan.writes() {
        return Ok(target);
    }
    drop(target);
    Ok(Some(connector::open_side(Side::Target, &plan.target, Access::Write).await?))
}

/// Tables only the target has are never dropped; say so when the user did
/// not pick tables, so their absence from the report is not a surprise.
async fn target_only_tables(plan: &Plan, run: &TablesPlan, tables: &[TablePlan], target: Option<&dyn Store>) -> Result<Vec<String>, EngineError> {
    let Some(target) = target else { return Ok(Vec::new()) };
    if !run.names.is_empty() {
        return Ok(Vec::new());
    }
    let only: Vec<String> = target
        .list_tables()
        .await?
        .into_iter()
        .filter(|t| !tables.iter().any(|p| &p.source.name == t))
        .collect();
    Ok(only
        .into_iter()
        .map(|t| format!("table {t} exists only in {}; it was not compared and is never dropped", plan.target))
        .collect())
}

/// Opens the target read-only. A missing SQLite file is an error for
/// `diff`; for `sync` and `schema` it is an empty store, created only once
/// the plan holds and only if the run writes.
async fn open_target(plan: &Plan) -> Result<Option<Box<dyn Store>>, EngineError> {
    match connector::open_side(Side::Target, &plan.target, Access::Read).await {
        Ok(store) => Ok(Some(store)),
        Err(e) if matches!(e.root(), StoreError::Missing(_)) && plan.mode != Mode::Diff => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks every requested table on both sides before any work starts.
async fn resolve_tables(plan: &Plan, run: &TablesPlan, source: &dyn Store, target: Option<&dyn Store>) -> Result<Vec<TablePlan>, EngineError> {
    let mut out = Vec::new();
    for name in table_names(plan, run, source).await? {
        out.push(resolve_table(plan, run, &name, source, target).await?);
    }
    Ok(out)
}

/// The tables `--table` names (each must exist on SOURCE), or every
/// table of SOURCE no rule skips.
async fn table_names(plan: &Plan, run: &TablesPlan, source: &dyn Store) -> Result<Vec<String>, EngineError> {
    let source_tables = source.list_tables().await?;
    if run.names.is_empty() {
        // A profile's `skip` leaves a table out of "every table"; a table
        // named with --table is compared whatever the profile says.
        return Ok(source_tables.into_iter().filter(|t| !run.rule(t).is_some_and(|r| r.skip)).collect());
    }
    if let Some(t) = run.names.iter().find(|t| !source_tables.contains(t)) {
        let known = if source_tables.is_empty() { "it has no tables".to_string() } else { format!("it has: {}", source_tables.join(", ")) };
        return Err(EngineError::Usage(format!("table {t} not found in {} ({known})", plan.source)));
    }
    Ok(run.names.clone())
}

/// One table's plan: both schemas under the rule (renames, key, columns),
/// what creating it takes, how it is hashed, zoomed and guarded.
async fn resolve_table(plan: &Plan, run: &TablesPlan, name: &str, source: &dyn Store, target: Option<&dyn Store>) -> Result<TablePlan, EngineError> {
    let src = source
        .table_schema(name)
        .await?
        .ok_or_else(|| EngineError::Usage(format!("table {name} vanished from {}", plan.source)))?;
    let tgt = match target {
        Some(t) => t.table_schema(name).await?,
        None => None,
    };
    let rule = run.rule(name);
    let (src, tgt, renames) = under_rule(plan, rule, src, tgt)?;
    let create = match (&tgt, plan.mode) {
        (Some(_), _) | (None, Mode::Diff) => None,
        (None, _) if plan.creates_tables() => Some(create_statements(target, &renamed(src.clone(), renames.iter().cloned()), plan).await?),
        (None, _) => {
            return Err(EngineError::Usage(format!(
                "table {name} does not exist in {}; pass --create-tables to create it from the definition in {} \
                 (see docs/schema.md), or run `rangesync schema` first",
                plan.target, plan.source
            )))
        }
    };
    let (hash, checksum_note) = matching::hash_scheme(run.checksum, source.capabilities(), target.map(|t| t.capabilities()), &src, tgt.as_ref());
    let projection = if matches!(plan.mode, Mode::Schema { .. }) {
        // `schema` compares nothing: it creates what is missing (a table
        // without a primary key too) and leaves existing tables alone.
        Projection { table: name.to_string(), columns: Vec::new(), key: src.key.clone(), hash, filter: None, since: None, query: None }
    } else {
        matching::projection(&src, tgt.as_ref(), hash, &plan.source.to_string(), &plan.target.to_string())?
    };
    let projection = Projection { filter: rule.and_then(|r| r.condition.clone()), query: rule.and_then(|r| r.query.clone()), ..projection };
    Ok(TablePlan {
        source: src,
        target: tgt,
        create,
        projection,
        renames,
        checksum_note,
        zoom: rule.and_then(|r| r.zoom.clone()).unwrap_or_else(|| run.zoom.clone()),
        // A rule may keep a table from deletes; only --delete (or the
        // profile's delete = true) allows them.
        guard: plan.mode.write_guard().deletes_only_if(rule.and_then(|r| r.delete) != Some(false)),
        lite_column: rule.and_then(|r| r.lite_column.clone()).or_else(|| run.lite_column.clone()),
        target_query: rule.and_then(|r| r.target_query.clone()),
        listed: true,
    })
}

/// SOURCE's schema, TARGET's (if it has the table) and the renames.
type Ruled = (TableSchema, Option<TableSchema>, Vec<(String, String)>);

/// Both schemas as a profile's rule has them: TARGET's columns by
/// SOURCE's names, the rule's key, only the columns it picks. Every name
/// it gives must exist.
fn under_rule(
    plan: &Plan,
    rule: Option<&TableRule>,
    mut src: TableSchema,
    tgt: Option<TableSchema>,
) -> Result<Ruled, EngineError> {
    let Some(rule) = rule else { return Ok((src, tgt, Vec::new())) };
    let name = src.name.clone();
    let (source_url, target_url) = (plan.source.to_string(), plan.target.to_string());
    for (from, to) in &rule.rename {
        if src.column(from).is_none() {
            return Err(EngineError::Usage(format!("the profile renames column {from} of table {name}, which {name} does not have in {source_url}")));
        }
        if tgt.as_ref().is_some_and(|t| t.column(to).is_none()) {
            return Err(EngineError::Usage(format!("the profile renames column {from} of table {name} to {to}, which {name} does not have in {target_url}")));
        }
    }
    let mut tgt = tgt.map(|t| renamed(t, rule.rename.iter().map(|(s, t)| (t.clone(), s.clone()))));
    if let Some(key) = &rule.key {
        for (schema, url) in [(Some(&mut src), &source_url), (tgt.as_mut(), &target_url)] {
            let Some(schema) = schema else { continue };
            if let Some(c) = key.iter().find(|c| schema.column(c).is_none()) {
                return Err(EngineError::Usage(format!("the profile's key for table {name} names column {c}, which {name} does not have in {url} (by SOURCE's column names)")));
            }
            schema.key = key.clone();
        }
    }
    pick_columns(&mut src, rule, &source_url)?;
    if let Some(t) = &mut tgt {
        keep_columns(t, rule);
    }
    Ok((src, tgt, rule.rename.clone()))
}

/// `--max-delete`: a dry comparison of a table TARGET has, counting the
/// deletes a sync would make. A table `--lite` compares from a watermark
/// is never deleted from; one it compares whole (no watermark yet) is
/// counted like any other.
#[allow(clippy::too_many_arguments)]
async fn check_delete_limit(plan: &Plan, run: &TablesPlan, table: &TablePlan, lite: Option<&Lite>, source: &dyn Store, target: &dyn Store, limit: f64, progress: &dyn Progress) -> Result<(), EngineError> {
    let name = &table.source.name;
    if !table.guard.deletes() || table.target.is_none() || lite.is_some_and(|l| l.since.is_some()) {
        return Ok(());
    }
    let options = DiffOptions { zoom: table.zoom.clone(), diff_batch: run.batch_size, retry: RetryPolicy::default(), checkpoint: None, jobs: run.jobs };
    let (src, tgt) = (source.dataset(&table.projection).await?, target.dataset(&table.on_target(&table.projection)).await?);
    let would = diff::compare(name, src.as_ref(), tgt.as_ref(), &options, &mut ReportOnly, progress).await?;
    crate::engine::apply::within_delete_limit(&format!("table {name}"), would.extra, would.target_rows, "rows", &plan.target.to_string(), limit)
}

/// `--lite` for one table: its column, the value compared from, and the
/// source's largest value (the next watermark).
struct Lite {
    column: String,
    since: Option<(String, crate::engine::Value)>,
    source_max: Option<crate::engine::Value>,
}

/// The watermark a `--lite` run compares the table from: the state store's
/// (the source's largest value when the last run began), or without a
/// state store TARGET's largest value. None yet: the whole table.
async fn lite_since(
    plan: &Plan,
    table: &TablePlan,
    source: &dyn Store,
    target: Option<&dyn Store>,
    state: Option<&StateStore>,
    notes: &mut Vec<String>,
) -> Result<Option<Lite>, EngineError> {
    let name = &table.source.name;
    let Some(column) = table.lite_column.clone() else {
        notes.push(format!("table {name}: --lite has no column for it (--lite-column, or lite_column in the profile); it was compared whole"));
        return Ok(None);
    };
    if !table.projection.columns.contains(&column) {
        return Err(EngineError::Usage(format!("table {name} has no column {column} to compare --lite by (in {})", plan.source)));
    }
    let source_max = source.dataset(&table.projection).await?.max_value(&column).await?;
    let watermark = match (state, target, &table.target) {
        (Some(state), _, _) => state.watermark(name, &column).await?,
        (None, Some(t), Some(_)) => {
            let on_target = table.on_target(&table.projection);
            let target_column = &on_target.columns[table.projection.columns.iter().position(|c| *c == column).unwrap_or_default()];
            t.dataset(&on_target).await?.max_value(target_column).await?
        }
        _ => None,
    };
    match &watermark {
        Some(w) => notes.push(format!("table {name}: --lite compared the rows whose {column} is {} or later", w.display())),
        None => notes.push(format!("table {name}: --lite has no watermark yet for {column}; the table was compared whole")),
    }
    Ok(Some(Lite { since: watermark.map(|w| (column.clone(), w)), column, source_max }))
}

/// A profile's `columns` or `exclude` applied to the source's table: every
/// column it names must exist, and the key's columns are always kept.
fn pick_columns(schema: &mut TableSchema, rule: &TableRule, source: &str) -> Result<(), EngineError> {
    let table = &schema.name;
    for c in rule.columns.iter().flatten().chain(&rule.exclude) {
        if schema.column(c).is_none() {
            return Err(EngineError::Usage(format!("the profile's rule for table {table} names column {c}, which {table} does not have in {source}")));
        }
    }
    if let Some(c) = rule.exclude.iter().find(|c| schema.key.contains(c)) {
        return Err(EngineError::Usage(format!("the profile excludes column {c} of table {table}, which is part of its primary key; key columns are always compared")));
    }
    keep_columns(schema, rule);
    Ok(())
}

fn keep_columns(schema: &mut TableSchema, rule: &TableRule) {
    let key = schema.key.clone();
    schema.columns.retain(|c| {
        key.contains(&c.name) || (rule.columns.as_ref().is_none_or(|only| only.contains(&c.name)) && !rule.exclude.contains(&c.name))
    });
}

/// The statements that will create a missing table, asked of the target
/// (or, for a SQLite file not created yet, of the SQLite connector).
async fn create_statements(target: Option<&dyn Store>, source: &TableSchema, plan: &Plan) -> Result<Vec<String>, EngineError> {
    match target {
        Some(t) if !t.capabilities().can_create_tables => Err(EngineError::Usage(format!(
            "table {} does not exist in {}, which cannot create tables",
            source.name, plan.target
        ))),
        Some(t) => Ok(t.create_statements(source).await?),
        None => Ok(connector::create_statements_offline(&plan.target, source)?),
    }
}

/// Creates a table and reads it back: the new table must pair with the
/// source column by column, or the type mapping would leave differences
/// that no sync could settle.
async fn create_checked(
    guard: &WriteGuard,
    target: &dyn Store,
    table: &TablePlan,
    statements: &[String],
    plan: &Plan,
) -> Result<bool, EngineError> {
    let name = &table.source.name;
    if !guard.create_table(target, name, statements).await? {
        return Ok(false);
    }
    let made = target
        .table_schema(name)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("table {name} was created in {} but cannot be found there", plan.target)))?;
    let made = renamed(made, table.renames.iter().map(|(s, t)| (t.clone(), s.clone())));
    if table.source.key.is_empty() {
        return Ok(true);
    }
    matching::projection(&table.source, Some(&made), table.projection.hash, &plan.source.to_string(), &plan.target.to_string())
        .map_err(|e| EngineError::Usage(format!("the table created from the type mapping does not pair with its source: {e}")))?;
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
async fn run_table(
    plan: &Plan,
    run: &TablesPlan,
    table: &TablePlan,
    lite: Option<Lite>,
    source: &dyn Store,
    target: Option<&dyn Store>,
    state: Option<Arc<StateStore>>,
    progress: &dyn Progress,
    notes: &mut Vec<String>,
) -> Result<DatasetReport, EngineError> {
    let name = &table.source.name;
    let projection = Projection { since: lite.as_ref().and_then(|l| l.since.clone()), ..table.projection.clone() };
    // A row TARGET holds above the watermark and SOURCE below it is not
    // gone from SOURCE: --lite never deletes.
    let guard = match projection.since {
        Some(_) if table.guard.allows_delete() => {
            notes.push(format!("table {name}: --lite does not delete (a row missing from SOURCE's recent rows may exist there, older); run without --lite to delete"));
            table.guard.deletes_only_if(false)
        }
        _ => table.guard,
    };
    let src = source.dataset(&projection).await?;
    let tgt = target_dataset(plan, table, &projection, &guard, target).await?;
    // Only a sync that writes finishes ranges; a diff or a dry run
    // reports, and its report would lack what a resumed part skipped.
    let checkpoint: Option<Arc<dyn Checkpoint>> = match (state.clone(), plan.mode) {
        (Some(state), Mode::Sync { dry_run: false, .. }) => Some(Arc::new(DatasetState::load(state, name).await?)),
        _ => None,
    };
    let options = DiffOptions { zoom: table.zoom.clone(), diff_batch: run.batch_size, retry: RetryPolicy::default(), checkpoint, jobs: run.jobs };
    let pass = if matches!(plan.mode, Mode::Copy { .. }) { diff::Pass::Copy } else { diff::Pass::Compare };
    let mut out = plan.output.clone();
    let mut sink = sink(plan, run, table, src.as_ref(), tgt.as_ref(), guard, &mut out);
    let mut report = diff::run_pass(pass, name, src.as_ref(), tgt.as_ref(), &options, sink.as_mut(), progress).await?;
    // Repaired up to the source's largest value read before comparing:
    // the next --lite run starts there.
    // Not after a resumed run that skipped ranges: rows changed in them
    // since the killed run began would fall below the new watermark.
    if let (Some(state), Some(Lite { column, source_max: Some(max), .. }), Mode::Sync { dry_run: false, .. }, 0) = (&state, &lite, plan.mode, report.ranges_skipped) {
        state.set_watermark(name, column, max).await?;
    }
    // In a dry run: would be created.
    report.created = table.create.is_some();
    Ok(report)
}

/// The table on TARGET as compared: created first when the run creates
/// it, or an empty stand-in when it is missing (a diff, a dry run).
async fn target_dataset(plan: &Plan, table: &TablePlan, projection: &Projection, guard: &WriteGuard, target: Option<&dyn Store>) -> Result<Box<dyn Dataset>, EngineError> {
    let name = &table.source.name;
    Ok(match (target, &table.target, &table.create) {
        (Some(t), Some(_), _) => t.dataset(&table.on_target(projection)).await?,
        (Some(t), None, Some(statements)) if create_checked(guard, t, table, statements, plan).await? => t.dataset(&table.on_target(projection)).await?,
        (_, None, Some(_)) => Box::new(EmptyDataset { what: format!("table {name} in {} (to be created)", plan.target) }),
        _ => Box::new(EmptyDataset { what: format!("table {name} in {} (missing)", plan.target) }),
    })
}

/// Where a table's differences go: written (sync, copy), printed
/// (`--dry-run --print`), or only counted (diff, a dry run).
fn sink<'a>(
    plan: &Plan,
    run: &TablesPlan,
    table: &TablePlan,
    src: &'a dyn Dataset,
    tgt: &'a dyn Dataset,
    guard: WriteGuard,
    out: &'a mut Output,
) -> Box<dyn DiffSink + 'a> {
    let inner: Box<dyn DiffSink + 'a> = match plan.mode {
        Mode::Sync { dry_run: true, .. } if plan.print => {
            Box::new(Printer { source: src, target: tgt, allow_delete: guard.allows_delete(), retry: guard.retry(), out })
        }
        Mode::Sync { dry_run: false, .. } | Mode::Copy { dry_run: false } => Box::new(Applier {
            source: src,
            target: tgt,
            guard,
            scheme: table.projection.hash,
            key_positions: table.projection.key_positions(),
            column_names: table.projection.columns.clone(),
            fill_page: run.fill_batch,
        }),
        _ => Box::new(ReportOnly),
    };
    // --format jsonl lists each key before the sink acts on it.
    match plan.format {
        Format::Jsonl if table.listed => Box::new(Streamed { dataset: table.source.name.clone(), out: plan.output.clone(), inner }),
        _ => inner,
    }
}

/// `--format jsonl`: every differing key, on its own line, before the sink
/// it goes on to acts on it. Ranges TARGET lacks are compared key by key
/// rather than copied whole, so their keys are listed too.
struct Streamed<'a> {
    dataset: String,
    out: Output,
    inner: Box<dyn DiffSink + 'a>,
}

#[async_trait::async_trait]
impl DiffSink for Streamed<'_> {
    async fn apply(&mut self, batch: Vec<diff::Difference>, report: &mut DatasetReport) -> Result<(), EngineError> {
        for d in &batch {
            self.out.line(&serde_json::json!({"dataset": self.dataset, "kind": d.kind.as_str(), "key": d.key.to_string()}).to_string())?;
        }
        self.inner.apply(batch, report).await
    }

    fn writes_target(&self) -> bool {
        self.inner.writes_target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::{Column, TypeClass};

    #[test]
    fn renames_map_each_name_once_so_swapped_names_stay_apart() {
        let column = |name: &str| Column { name: name.into(), declared_type: "TEXT".into(), class: TypeClass::Text, not_null: false };
        let schema = TableSchema { name: "t".into(), columns: vec![column("id"), column("a"), column("b")], key: vec!["id".into()], definition: vec!["CREATE TABLE t".into()], dialect: "sqlite" };
        let swapped = renamed(schema, [("a".to_string(), "b".to_string()), ("b".to_string(), "a".to_string())].into_iter());
        let names: Vec<&str> = swapped.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "b", "a"]);
        assert!(swapped.definition.is_empty(), "a definition naming the old columns is dropped");
    }
}
