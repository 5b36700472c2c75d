//! The AWS Glue Data Catalog (feature `glue`), on the official AWS SDK:
//! [`GlueCatalog`] creates the database, creates or updates tables from
//! the crawler's [`Catalog`](crate::catalog::Catalog), registers partitions, or sets Athena
//! partition projection instead; [`GlueRegistrar`] registers partitions as
//! the lake sink lands them.
//!
//! Credentials, region and endpoint come from the same chain as S3
//! (aws-config: environment, `AWS_PROFILE` profiles with assume-role, SSO,
//! `credential_process` and web identity, containers, instance metadata),
//! the endpoint from `AWS_ENDPOINT_URL_GLUE`, else `AWS_ENDPOINT_URL`, else
//! the profile's. Every operation is idempotent: creating what exists is
//! success, updating what is equal is not done.

mod builder;
mod convert;
mod errors;
mod journal;
mod registrar;
mod sync;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_glue::types::DatabaseInput;

use crate::catalog::{Projection, SchemaConflictPolicy, Table};
use crate::error::{Error, Result};
use errors::{Kind, Request, glue_error};

pub use builder::GlueCatalogBuilder;
pub use registrar::{GlueRegistrar, GlueRegistrarBuilder, RegistrarStats};
pub use sync::{SyncReport, TableChange};

/// Partitions per `BatchCreatePartition` call (the API's limit).
pub const PARTITIONS_PER_CALL: usize = 100;

/// A database in the AWS Glue Data Catalog holding the tables of one lake.
///
/// ```no_run
/// # async fn run() -> streamlake::Result<()> {
/// use streamlake::catalog::crawl;
/// use streamlake::glue::GlueCatalog;
/// use streamlake::s3::S3Options;
///
/// let lake = S3Options::from_env("s3://my-bucket/stock")?.open()?;
/// let (catalog, _) = crawl(&lake, "").await?;
/// let glue = GlueCatalog::builder("analytics", lake.to_string()).build().await?;
/// let report = glue.sync(&catalog, None).await?;
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    database: String,
    base: String,
    endpoint: String,
    create_database: bool,
    on_conflict: SchemaConflictPolicy,
    calls: Arc<AtomicU64>,
}

impl GlueCatalog {
    /// A catalog for `database`, holding tables of the lake at `base` (its
    /// URL, `s3://bucket/prefix`: tables are located under it).
    pub fn builder(database: impl Into<String>, base: impl Into<String>) -> GlueCatalogBuilder {
        GlueCatalogBuilder::new(database.into(), base.into())
    }

    /// The database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The lake's URL the tables are located under.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The Glue endpoint, as errors name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Glue API calls made so far (each retry counted once).
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn request<'a>(&'a self, operation: &'a str, table: Option<&'a str>) -> Request<'a> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Request {
            operation,
            database: &self.database,
            table,
            endpoint: &self.endpoint,
        }
    }

    /// Creates the database if it is missing (when allowed; otherwise a
    /// missing database is an error). True when it was created.
    pub async fn ensure_database(&self) -> Result<bool> {
        let request = self.request("GetDatabase", None);
        let found = self.client.get_database().name(&self.database).send().await;
        match found.map_err(|e| (errors::kind(&e), e)) {
            Ok(_) => return Ok(false),
            Err((Kind::NoDatabase(_) | Kind::NotFound(_), _)) if self.create_database => {}
            Err((Kind::NoDatabase(m) | Kind::NotFound(m), _)) => {
                return Err(errors::error(&request, Kind::NoDatabase(m)));
            }
            Err((_, e)) => return Err(glue_error(&request, e)),
        }
        let request = self.request("CreateDatabase", None);
        let input = DatabaseInput::builder()
            .name(&self.database)
            .description("created by streamlake")
            .build()
            .map_err(|e| Error::Config(format!("glue database {}: {e}", self.database)))?;
        let created = self
            .client
            .create_database()
            .database_input(input)
            .send()
            .await;
        match created.map_err(|e| (errors::kind(&e), e)) {
            Ok(_) => Ok(true),
            Err((Kind::AlreadyExists, _)) => Ok(false),
            Err((_, e)) => Err(glue_error(&request, e)),
        }
    }

    /// Creates `table` in the Data Catalog, or updates the one there when
    /// the crawler found something it lacks (columns are only added; a
    /// type disagreement follows the conflict policy). With `projection`,
    /// the table gets Athena partition projection properties.
    pub async fn put_table(
        &self,
        table: &Table,
        projection: Option<&Projection>,
    ) -> Result<TableChange> {
        let mut def = table.glue_definition(&self.base, projection);
        let name = def.name.clone();
        let held = self.held_table(&name).await?;
        let Some((held, version)) = held else {
            let request = self.request("CreateTable", Some(&name));
            let input = convert::table_input(&def)?;
            let created = self
                .client
                .create_table()
                .database_name(&self.database)
                .table_input(input)
                .send()
                .await;
            return match created.map_err(|e| (errors::kind(&e), e)) {
                Ok(_) => Ok(TableChange::Created),
                // Created meanwhile by another writer: merge into theirs.
                Err((Kind::AlreadyExists, _)) => Box::pin(self.put_table(table, projection)).await,
                Err((_, e)) => Err(glue_error(&request, e)),
            };
        };
        let merged = convert::merge(&mut def, &held, self.on_conflict)?;
        if !merged.changed {
            return Ok(TableChange::Unchanged {
                conflicts: merged.conflicts,
            });
        }
        let request = self.request("UpdateTable", Some(&name));
        let input = convert::table_input(&def)?;
        self.client
            .update_table()
            .database_name(&self.database)
            .table_input(input)
            .skip_archive(true)
            .set_version_id(version)
            .send()
            .await
            .map_err(|e| glue_error(&request, e))?;
        Ok(TableChange::Updated {
            new_columns: merged.new_columns,
            conflicts: merged.conflicts,
        })
    }

    /// The table as the Data Catalog holds it, and its version; `None`
    /// when it does not exist.
    async fn held_table(&self, name: &str) -> Result<Option<(convert::Held, Option<String>)>> {
        let request = self.request("GetTable", Some(name));
        let got = self
            .client
            .get_table()
            .database_name(&self.database)
            .name(name)
            .send()
            .await;
        match got.map_err(|e| (errors::kind(&e), e)) {
            Ok(out) => Ok(out
                .table()
                .map(|t| (convert::Held::of(t), t.version_id().map(str::to_string)))),
            Err((Kind::NotFound(_), _)) => Ok(None),
            Err((_, e)) => Err(glue_error(&request, e)),
        }
    }

    /// Registers partitions of `table` (values in key order, locations
    /// lake-relative), [`PARTITIONS_PER_CALL`] per call; a partition that
    /// exists already counts as registered. Returns how many were new.
    pub async fn add_partitions(
        &self,
        table: &Table,
        partitions: &[(Vec<String>, String)],
    ) -> Result<usize> {
        let def = table.glue_definition(&self.base, None);
        let mut created = 0;
        for chunk in partitions.chunks(PARTITIONS_PER_CALL) {
            let inputs = chunk
                .iter()
                .map(|(values, location)| {
                    let url = format!("{}/{location}/", self.base.trim_end_matches('/'));
                    convert::partition_input(&def, values, &url)
                })
                .collect::<Result<Vec<_>>>()?;
            let request = self.request("BatchCreatePartition", Some(&def.name));
            let out = self
                .client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(&def.name)
                .set_partition_input_list(Some(inputs))
                .send()
                .await
                .map_err(|e| glue_error(&request, e))?;
            let mut existed = 0;
            let mut failed = Vec::new();
            for error in out.errors() {
                let detail = error.error_detail();
                match detail.and_then(|d| d.error_code()) {
                    Some("AlreadyExistsException") => existed += 1,
                    code => failed.push(format!(
                        "{:?}: {} {}",
                        error.partition_values(),
                        code.unwrap_or("?"),
                        detail.and_then(|d| d.error_message()).unwrap_or("")
                    )),
                }
            }
            if !failed.is_empty() {
                return Err(Error::Catalog {
                    context: format!(
                        "BatchCreatePartition of table {}.{} at {}",
                        self.database, def.name, self.endpoint
                    ),
                    reason: failed.join("; "),
                });
            }
            created += chunk.len() - existed;
        }
        Ok(created)
    }

    /// The values of every partition of table `name` registered in the
    /// Data Catalog (empty when the table does not exist).
    pub async fn partitions(&self, name: &str) -> Result<Vec<Vec<String>>> {
        let request = self.request("GetPartitions", Some(name));
        let mut pages = self
            .client
            .get_partitions()
            .database_name(&self.database)
            .table_name(name)
            .into_paginator()
            .page_size(1000)
            .send();
        let mut values = Vec::new();
        loop {
            match pages.try_next().await.map_err(|e| (errors::kind(&e), e)) {
                Ok(Some(page)) => {
                    values.extend(page.partitions().iter().map(|p| p.values().to_vec()))
                }
                Ok(None) => return Ok(values),
                Err((Kind::NotFound(_), _)) => return Ok(Vec::new()),
                Err((_, e)) => return Err(glue_error(&request, e)),
            }
        }
    }
}
