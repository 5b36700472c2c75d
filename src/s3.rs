//! S3 lakes (feature `s3`): [`S3Options`] over `object_store`'s AWS
//! backend.
//!
//! Every S3 setting is one of object_store's own configuration keys
//! ([`AmazonS3ConfigKey`], the names of its `AWS_*` variables); streamlake
//! adds only what is its own: the multipart part size, retries and request
//! timeouts (`STREAMLAKE_S3_*`), conditional writes, and where credentials
//! come from (one function: environment keys, else the named profile's).

mod credentials;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};

use crate::error::{Error, Result};
use crate::lake::Lake;

/// The smallest part S3 accepts in a multipart upload (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Server-side encryption for the objects a lake writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum S3Encryption {
    /// SSE-S3: keys managed by S3 (`AES256`).
    S3Managed,
    /// SSE-KMS, with the bucket's default KMS key or the given key id / ARN.
    Kms {
        /// KMS key id or ARN; `None` uses the account's default S3 key.
        key_id: Option<String>,
    },
}

/// How to reach a lake in S3: bucket and prefix, endpoint, credentials,
/// encryption, multipart and retry settings.
///
/// [`S3Options::from_env`] reads the standard AWS settings; every setter
/// overrides them. [`S3Options::open`] gives the [`Lake`].
///
/// ```
/// use std::time::Duration;
/// use streamlake::s3::{S3Encryption, S3Options};
///
/// let lake = S3Options::new("s3://my-bucket/stock")?
///     .region("eu-west-1")
///     .endpoint("http://127.0.0.1:9000") // an S3-compatible server
///     .allow_http(true)
///     .credentials("AKIAEXAMPLE", "secret", None)
///     .encryption(S3Encryption::Kms { key_id: Some("alias/lake".into()) })
///     .part_size(16 * 1024 * 1024)
///     .retries(5, Duration::from_secs(60))
///     .request_timeout(Duration::from_secs(30))
///     .open()?;
/// assert_eq!(lake.to_string(), "s3://my-bucket/stock");
/// # Ok::<(), streamlake::Error>(())
/// ```
#[derive(Clone)]
pub struct S3Options {
    bucket: String,
    prefix: String,
    /// object_store's settings (later ones win), each with where it came
    /// from, to name it in errors.
    config: HashMap<AmazonS3ConfigKey, (String, String)>,
    /// The profile's credentials through aws-config, when no static keys
    /// are set.
    profile: Option<Arc<credentials::ProfileCredentials>>,
    part_size: usize,
    max_retries: usize,
    retry_timeout: Duration,
    allow_unconditional_writes: bool,
}

impl S3Options {
    /// Options for `s3://bucket/prefix` (also `s3a://`), with defaults:
    /// region `us-east-1`, path-style requests, HTTPS only, 64 MiB parts
    /// (so objects within the sink's default 64 MiB limit are single
    /// conditional PUTs), 10 retries within 3 minutes, 30 s per request, 5
    /// s to connect.
    pub fn new(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
            .ok_or_else(|| Error::Config(format!("{url:?} is not an s3://bucket/prefix URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Config(format!("{url:?} names no bucket")));
        }
        let options = Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            config: HashMap::new(),
            profile: None,
            part_size: 64 * 1024 * 1024,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            allow_unconditional_writes: false,
        };
        Ok(options
            .request_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5)))
    }

    /// Options for `url` from the process environment; see
    /// [`S3Options::from_vars`].
    pub fn from_env(url: &str) -> Result<Self> {
        Self::from_vars(url, std::env::vars())
    }

    /// Options for `url` from these variables, following the AWS settings
    /// chain: first the credential source (environment keys, else the named
    /// profile's keys, region and endpoint), then every `AWS_*` variable
    /// object_store knows (`AWS_REGION`, `AWS_DEFAULT_REGION`,
    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`,
    /// `AWS_SERVER_SIDE_ENCRYPTION`, `AWS_SSE_KMS_KEY_ID`,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_CONTAINER_CREDENTIALS_*`, ...;
    /// see [`AmazonS3ConfigKey`]), then streamlake's own:
    /// `STREAMLAKE_S3_PART_SIZE` (bytes), `STREAMLAKE_S3_MAX_RETRIES`,
    /// `STREAMLAKE_S3_RETRY_TIMEOUT_SECS`,
    /// `STREAMLAKE_S3_REQUEST_TIMEOUT_SECS`.
    pub fn from_vars(url: &str, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let vars: BTreeMap<String, String> =
            vars.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let mut options = Self::new(url)?;
        let resolved = credentials::resolve(&vars)?;
        for (key, value, from) in resolved.settings {
            options = options.set(key, &value, &from);
        }
        options.profile = resolved.profile.map(Arc::new);
        for (name, value) in vars.iter().filter(|(k, _)| k.starts_with("AWS_")) {
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                if !credentials::handles(&key) {
                    options = options.set(key, value, name);
                }
            }
        }
        options.streamlake_settings(&vars)
    }

    /// `STREAMLAKE_S3_*`: transfer settings object_store has no key for.
    fn streamlake_settings(mut self, vars: &BTreeMap<String, String>) -> Result<Self> {
        let var = |k: &str| vars.get(k).map(String::as_str);
        if let Some(v) = var("STREAMLAKE_S3_PART_SIZE") {
            self.part_size = parse_number("STREAMLAKE_S3_PART_SIZE", v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_MAX_RETRIES") {
            self.max_retries = parse_number("STREAMLAKE_S3_MAX_RETRIES", v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_RETRY_TIMEOUT_SECS") {
            self.retry_timeout = seconds("STREAMLAKE_S3_RETRY_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_ALLOW_UNCONDITIONAL_WRITES") {
            self.allow_unconditional_writes =
                parse_bool("STREAMLAKE_S3_ALLOW_UNCONDITIONAL_WRITES", v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_REQUEST_TIMEOUT_SECS") {
            self = self.request_timeout(seconds("STREAMLAKE_S3_REQUEST_TIMEOUT_SECS", v)?);
        }
        Ok(self)
    }

    /// Sets one of object_store's settings; `from` names where it came from.
    fn set(mut self, key: AmazonS3ConfigKey, value: &str, from: &str) -> Self {
        self.config
            .insert(key, (value.to_string(), from.to_string()));
        self
    }

    /// Any of object_store's S3 settings, as `AWS_*` variables name them.
    pub fn with_config(self, key: AmazonS3ConfigKey, value: impl Into<String>) -> Self {
        let name = format!("{} (set in code)", key.as_ref());
        self.set(key, &value.into(), &name)
    }

    /// The AWS region (default `us-east-1`).
    pub fn region(self, region: impl Into<String>) -> Self {
        self.with_config(AmazonS3ConfigKey::Region, region)
    }

    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:9000`. Requests
    /// use path-style addressing unless
    /// [`virtual_hosted_style`](Self::virtual_hosted_style) is set.
    pub fn endpoint(self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        self.with_config(AmazonS3ConfigKey::S3Endpoint, endpoint)
    }

    /// Static credentials (and an optional session token).
    pub fn credentials(
        self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        let mut options = self
            .with_config(AmazonS3ConfigKey::AccessKeyId, access_key_id)
            .with_config(AmazonS3ConfigKey::SecretAccessKey, secret_access_key);
        options.config.remove(&AmazonS3ConfigKey::Token);
        options.profile = None;
        match session_token {
            Some(token) => options.with_config(AmazonS3ConfigKey::Token, token),
            None => options,
        }
    }

    /// Permits plain-HTTP endpoints (local S3-compatible servers).
    pub fn allow_http(self, allow: bool) -> Self {
        self.with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
            allow.to_string(),
        )
    }

    /// `https://bucket.endpoint/key` instead of `https://endpoint/bucket/key`.
    pub fn virtual_hosted_style(self, enabled: bool) -> Self {
        self.with_config(
            AmazonS3ConfigKey::VirtualHostedStyleRequest,
            enabled.to_string(),
        )
    }

    /// Server-side encryption of every object written.
    pub fn encryption(self, encryption: S3Encryption) -> Self {
        let kind: AmazonS3ConfigKey = "aws_server_side_encryption"
            .parse()
            .expect("object_store knows its own key");
        let key_id: AmazonS3ConfigKey = "aws_sse_kms_key_id"
            .parse()
            .expect("object_store knows its own key");
        match encryption {
            S3Encryption::S3Managed => self.with_config(kind, "AES256"),
            S3Encryption::Kms { key_id: None } => self.with_config(kind, "aws:kms"),
            S3Encryption::Kms { key_id: Some(id) } => {
                self.with_config(kind, "aws:kms").with_config(key_id, id)
            }
        }
    }

    /// Objects larger than this go up as multipart uploads in parts of this
    /// size (at least 5 MiB, S3's minimum); smaller ones as one PUT.
    pub fn part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// Retries of a failed request (with exponential backoff) and the time
    /// after which a request is no longer retried.
    pub fn retries(mut self, max_retries: usize, retry_timeout: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout = retry_timeout;
        self
    }

    /// Accepts a server that ignores or refuses conditional creates
    /// (`If-None-Match`), which is otherwise refused at the first write:
    /// objects are then checked, then written, at-least-once under a
    /// concurrent writer (see [`Lake::check_writes`]).
    pub fn allow_unconditional_writes(mut self, allow: bool) -> Self {
        self.allow_unconditional_writes = allow;
        self
    }

    /// Time limit of one request attempt.
    pub fn request_timeout(self, timeout: Duration) -> Self {
        let key = AmazonS3ConfigKey::Client(ClientConfigKey::Timeout);
        self.with_config(key, format!("{}ms", timeout.as_millis()))
    }

    /// Time limit to open a connection.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        let key = AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout);
        self.with_config(key, format!("{}ms", timeout.as_millis()))
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// One setting, as object_store would read it.
    pub fn get(&self, key: AmazonS3ConfigKey) -> Option<&str> {
        self.config.get(&key).map(|(value, _)| value.as_str())
    }

    /// Where requests go: the endpoint, or AWS's regional one.
    pub fn endpoint_name(&self) -> String {
        let endpoint = self
            .get(AmazonS3ConfigKey::S3Endpoint)
            .or_else(|| self.get(AmazonS3ConfigKey::Endpoint));
        match endpoint {
            Some(endpoint) => endpoint.to_string(),
            None => format!("https://s3.{}.amazonaws.com", self.signing_region()),
        }
    }

    /// The region requests are signed for: `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`, else the profile's, else `us-east-1`.
    fn signing_region(&self) -> &str {
        match self.get(AmazonS3ConfigKey::Region) {
            Some(region) => region,
            None => self
                .get(AmazonS3ConfigKey::DefaultRegion)
                .unwrap_or("us-east-1"),
        }
    }

    /// Builds the lake. Nothing is requested yet; [`Lake::check`] verifies
    /// bucket, credentials and endpoint.
    pub fn open(self) -> Result<Lake> {
        if self.part_size < MIN_PART_SIZE {
            return Err(Error::Config(format!(
                "S3 part size {} bytes is below S3's minimum of {MIN_PART_SIZE}",
                self.part_size
            )));
        }
        let keys = (
            self.get(AmazonS3ConfigKey::AccessKeyId),
            self.get(AmazonS3ConfigKey::SecretAccessKey),
        );
        if keys.0.is_some() != keys.1.is_some() {
            return Err(Error::Config(
                "S3 credentials need both an access key id and a secret access key".into(),
            ));
        }
        let store = self
            .builder(self.max_retries)
            .build()
            .map_err(|e| self.config_error(e))?;
        // The conditional-write probe must not retry a 501 for minutes.
        let probe = self.builder(0).build().map_err(|e| self.config_error(e))?;
        let url = match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            prefix => format!("s3://{}/{prefix}", self.bucket),
        };
        let place = format!(
            "S3 bucket {} at {}{}",
            self.bucket,
            self.endpoint_name(),
            match (keys.0, &self.profile) {
                (Some(id), _) => format!(" (access key id {id})"),
                (None, Some(profile)) => format!(" (AWS profile {})", profile.profile()),
                (None, None) => String::new(),
            }
        );
        // The profile's secrets join the lake's as aws-config resolves them.
        let secrets = self
            .profile
            .as_ref()
            .map(|p| p.secrets())
            .unwrap_or_default();
        for key in [AmazonS3ConfigKey::SecretAccessKey, AmazonS3ConfigKey::Token] {
            if let Some(secret) = self.get(key) {
                secrets.add(secret);
            }
        }
        Ok(
            Lake::new(Arc::new(store), Path::from(self.prefix.as_str()), url)
                .with_part_size(self.part_size)
                .described_as(place, secrets)
                .probe_with(Arc::new(probe))
                .with_key_limits(crate::lake::KeyLimits {
                    max_key_bytes: Some(1024),
                    max_segment_bytes: None,
                })
                .allow_unconditional_writes(self.allow_unconditional_writes),
        )
    }

    /// object_store's builder with every setting, retrying up to
    /// `max_retries` times.
    fn builder(&self, max_retries: usize) -> AmazonS3Builder {
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries,
            retry_timeout: self.retry_timeout,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(self.signing_region())
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(retry);
        if let Some(profile) = &self.profile {
            builder = builder.with_credentials(profile.clone());
        }
        self.config
            .iter()
            .fold(builder, |b, (key, (value, _))| b.with_config(*key, value))
    }

    /// object_store refused a setting: name the one, and where it came
    /// from (a lone setting that does not build is the culprit).
    fn config_error(&self, e: object_store::Error) -> Error {
        let culprit = self.config.iter().find(|(key, (value, _))| {
            AmazonS3Builder::new()
                .with_bucket_name(&self.bucket)
                .with_config(**key, value.as_str())
                .build()
                .is_err()
        });
        match culprit {
            Some((key, (value, from))) => {
                let shown = if credentials::is_secret(key) {
                    "<redacted>"
                } else {
                    value
                };
                Error::Config(format!(
                    "S3 bucket {} at {}: {from}={shown:?} is not valid: {e}",
                    self.bucket,
                    self.endpoint_name(),
                ))
            }
            None => Error::Config(format!(
                "S3 bucket {} at {}: {e}",
                self.bucket,
                self.endpoint_name()
            )),
        }
    }
}

/// An HTTPS client for the AWS SDK: rustls with the ring provider (the
/// crypto object_store already uses), not the SDK's default aws-lc.
pub(crate) fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Secrets stay out of logs: only the access key id is shown.
impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        map.entry(&"bucket", &self.bucket);
        map.entry(&"prefix", &self.prefix);
        let mut settings: Vec<_> = self.config.iter().collect();
        settings.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        for (key, (value, _)) in settings {
            let shown: &dyn fmt::Debug = if credentials::is_secret(key) {
                &"<redacted>"
            } else {
                value
            };
            map.entry(&key.as_ref(), shown);
        }
        if let Some(profile) = &self.profile {
            map.entry(&"credentials", profile);
        }
        map.entry(&"part_size", &self.part_size);
        map.entry(&"max_retries", &self.max_retries);
        map.entry(&"retry_timeout", &self.retry_timeout);
        map.finish()
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::Config(format!(
            "{key}={value:?}: expected true or false"
        ))),
    }
}

fn parse_number(key: &str, value: &str) -> Result<usize> {
    value
        .parse()
        .map_err(|_| Error::Config(format!("{key}={value:?}: expected a whole number")))
}

fn seconds(key: &str, value: &str) -> Result<Duration> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| Error::Config(format!("{key}={value:?}: expected seconds")))
}

#[cfg(test)]
mod tests;
