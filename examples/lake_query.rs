//! Crawl a lake, export its catalog for AWS, and query it with SQL.
//!
//! ```text
//! cargo run --all-features --example lake_query -- --lake lake --crawl \
//!     --sql 'SELECT index, count(*) AS n, avg("CloseUSD") FROM stock GROUP BY index ORDER BY index'
//! cargo run --all-features --example lake_query -- --lake s3://my-bucket/lake --ddl athena
//! cargo run --all-features --example lake_query -- --lake s3://my-bucket/lake --crawl \
//!     --glue-database analytics [--projection]     # the Glue crawler step, through the API
//! ```
//!
//! DDL and results go to stdout; the crawl report and errors to stderr.

mod common;

use clap::Parser;
use common::{exit_on_error, init_logging};
use streamlake::Lake;
use streamlake::catalog::{Catalog, Crawler, Projection, SchemaConflictPolicy};
use streamlake::sql::{LakeSql, OutputFormat};

#[derive(Parser, Debug)]
#[command(about = "Crawl a lake into its catalog, print Athena/Glue DDL, run SQL")]
struct Args {
    /// Lake location: s3://bucket/prefix, a directory, file:///dir or memory://.
    #[arg(long, default_value = "lake")]
    lake: String,
    /// Crawl first (only objects not read before), then save the catalog in the lake.
    #[arg(long)]
    crawl: bool,
    /// Crawl only under this lake-relative prefix.
    #[arg(long, default_value = "")]
    prefix: String,
    /// On a type conflict with the catalog: log (keep the catalog's type) or update (widen).
    #[arg(long, default_value = "log", value_parser = ["log", "update"])]
    on_schema_conflict: String,
    /// Print DDL for every table: athena (CREATE EXTERNAL TABLE + ADD PARTITION) or glue (TableInput JSON).
    #[arg(long, value_parser = ["athena", "glue"])]
    ddl: Option<String>,
    /// Only this catalog table (for --ddl glue, which prints one TableInput per table).
    #[arg(long)]
    table: Option<String>,
    /// Where the lake is for AWS in the DDL (default: the lake's URL).
    #[arg(long)]
    location: Option<String>,
    /// Sync the catalog into this AWS Glue database (feature glue): create
    /// or update every table, register every partition.
    #[arg(long)]
    glue_database: Option<String>,
    /// Athena partition projection (in --ddl and --glue-database) instead
    /// of registered partitions.
    #[arg(long)]
    projection: bool,
    /// SQL to run over the catalog's tables.
    #[arg(long)]
    sql: Option<String>,
    /// Result format: table, jsonl or csv.
    #[arg(long, default_value = "table")]
    output: OutputFormat,
}

#[tokio::main]
async fn main() {
    init_logging(false, true);
    exit_on_error(run(Args::parse()).await);
}

async fn run(args: Args) -> streamlake::Result<()> {
    let lake = Lake::open(&args.lake)?;
    lake.check().await?;
    let catalog = if args.crawl {
        let policy = match args.on_schema_conflict.as_str() {
            "update" => SchemaConflictPolicy::Update,
            _ => SchemaConflictPolicy::Log,
        };
        let (catalog, report) = Crawler::new()
            .prefix(&args.prefix)
            .on_schema_conflict(policy)
            .run(&lake)
            .await?;
        eprintln!("{report}");
        catalog
    } else {
        Catalog::load(&lake).await?
    };
    if catalog.tables().next().is_none() {
        return Err(streamlake::Error::Config(format!(
            "{lake} has no catalog tables: crawl it first (--crawl)"
        )));
    }
    let base = args.location.clone().unwrap_or_else(|| lake.to_string());
    let chosen: Vec<_> = catalog
        .tables()
        .filter(|t| args.table.as_ref().is_none_or(|name| &t.name == name))
        .collect();
    if let (Some(name), true) = (&args.table, chosen.is_empty()) {
        return Err(streamlake::Error::Config(format!(
            "no table {name:?} in the catalog"
        )));
    }
    let projection = args.projection.then(Projection::new);
    match args.ddl.as_deref() {
        Some("athena") => {
            for table in &chosen {
                println!("{}\n", table.athena_ddl_with(&base, projection.as_ref()));
                if projection.is_some() {
                    continue;
                }
                for statement in table.athena_partitions(&base) {
                    println!("{statement}\n");
                }
            }
        }
        Some(_) => {
            for table in &chosen {
                let input = table.glue_table_input_with(&base, projection.as_ref());
                println!("{}", serde_json::to_string_pretty(&input).expect("JSON"));
            }
        }
        None => {}
    }
    if let Some(database) = &args.glue_database {
        sync_glue(database, &base, &catalog, projection.as_ref()).await?;
    }
    if let Some(query) = &args.sql {
        let sql = LakeSql::open(&lake, &catalog).await?;
        let batches = sql.query(query).await?;
        print!("{}", args.output.render(&batches)?);
    }
    if args.ddl.is_none() && args.sql.is_none() && args.glue_database.is_none() {
        for table in &chosen {
            eprintln!(
                "{}: {} columns, {} partitions, {} objects, {} bytes ({:?}, {})",
                table.name,
                table.columns.len(),
                table.partitions.len(),
                table.objects.len(),
                table.bytes(),
                table.format,
                table.compression
            );
        }
    }
    Ok(())
}

/// The Glue crawler step: the catalog into `database`.
#[cfg(feature = "glue")]
async fn sync_glue(
    database: &str,
    base: &str,
    catalog: &Catalog,
    projection: Option<&Projection>,
) -> streamlake::Result<()> {
    let glue = streamlake::glue::GlueCatalog::builder(database, base)
        .build()
        .await?;
    let report = glue.sync(catalog, projection).await?;
    eprintln!("{report}");
    for line in report.new_columns.iter().chain(&report.conflicts) {
        eprintln!("  {line}");
    }
    Ok(())
}

#[cfg(not(feature = "glue"))]
async fn sync_glue(
    _: &str,
    _: &str,
    _: &Catalog,
    _: Option<&Projection>,
) -> streamlake::Result<()> {
    Err(streamlake::Error::Config(
        "--glue-database needs the glue feature (cargo run --features glue,sql ...)".into(),
    ))
}
