//! `--glue-database`: register tables and partitions in the AWS Glue Data
//! Catalog as they land (feature `glue`).

#[cfg(feature = "glue")]
use std::sync::Arc;
#[cfg(feature = "glue")]
use std::time::Duration;

use streamlake::{Lake, LakeSinkBuilder};

/// The registration flags the pipeline examples share.
#[derive(clap::Args, Debug, Clone)]
pub struct GlueArgs {
    /// Register tables and partitions in this AWS Glue database as they
    /// land (feature glue; credentials, region and endpoint as for S3,
    /// AWS_ENDPOINT_URL_GLUE for the endpoint).
    #[arg(long)]
    pub glue_database: Option<String>,
    /// With --glue-database: set Athena partition projection on the table
    /// instead of registering partitions.
    #[arg(long)]
    pub glue_projection: bool,
    /// With --glue-database: the longest a commit waits for its
    /// registration (seconds) before the registration is recorded as owed
    /// in the lake and the commit goes ahead.
    #[arg(long, default_value_t = 60.0)]
    pub glue_commit_timeout: f64,
}

/// A started registrar, or none.
pub struct Registration {
    #[cfg(feature = "glue")]
    registrar: Option<Arc<streamlake::glue::GlueRegistrar>>,
}

impl Registration {
    /// Starts registering into `--glue-database` (if given) for `lake`.
    pub async fn start(args: &GlueArgs, lake: &Lake) -> streamlake::Result<Self> {
        #[cfg(feature = "glue")]
        {
            use streamlake::catalog::Projection;
            use streamlake::glue::{GlueCatalog, GlueRegistrar};
            let Some(database) = &args.glue_database else {
                return Ok(Registration { registrar: None });
            };
            let catalog = GlueCatalog::builder(database, lake.to_string())
                .build()
                .await?;
            let mut builder = GlueRegistrar::builder(catalog, lake.clone())
                .commit_timeout(Duration::from_secs_f64(args.glue_commit_timeout));
            if args.glue_projection {
                builder = builder.projection(Projection::new());
            }
            let registrar = builder.start().await?;
            eprintln!("registering in glue database {database}");
            Ok(Registration {
                registrar: Some(registrar),
            })
        }
        #[cfg(not(feature = "glue"))]
        match &args.glue_database {
            Some(_) => Err(streamlake::Error::Config(
                "--glue-database needs the glue feature (cargo run --features glue ...)".into(),
            )),
            None => {
                let _ = lake;
                Ok(Registration {})
            }
        }
    }

    /// The sink builder, registering what lands.
    pub fn attach(&self, builder: LakeSinkBuilder) -> LakeSinkBuilder {
        #[cfg(feature = "glue")]
        if let Some(registrar) = &self.registrar {
            return builder.on_landed(registrar.clone());
        }
        builder
    }

    /// Registers what is left (recording it as owed when Glue does not
    /// answer) and prints what was registered.
    pub async fn finish(self) {
        #[cfg(feature = "glue")]
        if let Some(registrar) = self.registrar {
            let stats = registrar.finish().await;
            let mean = stats.total_latency.as_secs_f64() / stats.registered_groups.max(1) as f64;
            println!(
                "glue:     {} partitions registered, {} tables put, {} API calls, \
                 latency mean {:.3}s max {:.3}s, {} owed, {} recovered",
                stats.partitions_registered,
                stats.tables_put,
                stats.api_calls,
                mean,
                stats.max_latency.as_secs_f64(),
                stats.owed,
                stats.recovered
            );
            if let Some(error) = registrar.last_error() {
                eprintln!("warning: glue: {error}");
            }
        }
    }
}
