//! [`GlueCatalogBuilder`]: the AWS settings of a [`GlueCatalog`], loaded by
//! aws-config like the S3 lake's, with overrides.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::service_config::ServiceConfigKey;

use super::GlueCatalog;
use crate::catalog::SchemaConflictPolicy;
use crate::error::Result;

/// Settings of a [`GlueCatalog`]; each overrides the AWS environment.
#[derive(Clone, Debug)]
pub struct GlueCatalogBuilder {
    database: String,
    base: String,
    profile: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    credentials: Option<Credentials>,
    create_database: bool,
    on_conflict: SchemaConflictPolicy,
    max_attempts: u32,
    attempt_timeout: Duration,
}

impl GlueCatalogBuilder {
    pub(super) fn new(database: String, base: String) -> Self {
        GlueCatalogBuilder {
            database,
            base,
            profile: None,
            region: None,
            endpoint: None,
            credentials: None,
            create_database: true,
            on_conflict: SchemaConflictPolicy::default(),
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(20),
        }
    }

    /// The AWS profile to read (default: `AWS_PROFILE`, else `default`).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// The region (default: `AWS_REGION`, the profile's, `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The Glue endpoint, e.g. an emulator's `http://127.0.0.1:5000`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Static credentials instead of the chain.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "streamlake",
        ));
        self
    }

    /// Whether a missing database is created (default) or an error.
    pub fn create_database(mut self, create: bool) -> Self {
        self.create_database = create;
        self
    }

    /// What a column whose type disagrees with the Data Catalog's does
    /// (default: keep the catalog's type and report it).
    pub fn on_schema_conflict(mut self, policy: SchemaConflictPolicy) -> Self {
        self.on_conflict = policy;
        self
    }

    /// Attempts per request (default 3, with the SDK's jittered backoff)
    /// and the time one attempt may take (default 20 s).
    pub fn retries(mut self, max_attempts: u32, attempt_timeout: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.attempt_timeout = attempt_timeout;
        self
    }

    /// Loads the AWS settings and builds the client (no request is made:
    /// see [`GlueCatalog::ensure_database`]).
    pub async fn build(self) -> Result<GlueCatalog> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::s3::https_client())
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(self.attempt_timeout)
                    .build(),
            );
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(credentials) = self.credentials.clone() {
            loader = loader.credentials_provider(credentials);
        }
        let sdk = loader.load().await;
        let mut config = aws_sdk_glue::config::Builder::from(&sdk);
        if sdk.region().is_none() {
            config = config.region(Region::new("us-east-1"));
        }
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let endpoint = self.endpoint.clone().unwrap_or_else(|| endpoint_of(&sdk));
        Ok(GlueCatalog {
            client: aws_sdk_glue::Client::from_conf(config.build()),
            database: self.database,
            base: self.base.trim_end_matches('/').to_string(),
            endpoint,
            create_database: self.create_database,
            on_conflict: self.on_conflict,
            calls: Arc::default(),
        })
    }
}

/// Where the Glue client sends requests, the way the SDK resolves it:
/// `AWS_ENDPOINT_URL_GLUE`, `AWS_ENDPOINT_URL`, the profile's, else AWS's
/// regional endpoint.
fn endpoint_of(sdk: &SdkConfig) -> String {
    let configured = ServiceConfigKey::builder()
        .service_id("Glue")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()
        .and_then(|key| sdk.service_config().and_then(|c| c.load_config(key)));
    configured
        .or_else(|| sdk.endpoint_url().map(str::to_string))
        .unwrap_or_else(|| {
            let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
            format!("https://glue.{region}.amazonaws.com")
        })
}
