//! [`S3Options`]: a lake in an S3 bucket or on an S3-compatible server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use super::Lake;
use super::aws_profile;
use crate::error::{Error, Result};

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
/// use streamlake::{S3Encryption, S3Options};
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
    region: Option<String>,
    endpoint: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    allow_http: bool,
    virtual_hosted_style: bool,
    encryption: Option<S3Encryption>,
    part_size: usize,
    max_retries: usize,
    retry_timeout: Duration,
    request_timeout: Duration,
    connect_timeout: Duration,
    /// Other credential sources object_store resolves itself (web identity,
    /// container credentials), as `aws_*` config keys.
    credential_sources: Vec<(String, String)>,
}

/// Variables naming credential sources that object_store resolves at
/// request time (IRSA / web identity, ECS and EKS container credentials).
const CREDENTIAL_SOURCES: [&str; 7] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

impl S3Options {
    /// Options for `s3://bucket/prefix` (also `s3a://`), with defaults:
    /// region `us-east-1`, path-style requests, HTTPS only, 64 MiB parts
    /// (so objects within the sink's default 64 MiB limit are single
    /// conditional PUTs),
    /// 10 retries within 3 minutes, 30 s per request, 5 s to connect.
    pub fn new(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
            .ok_or_else(|| Error::Config(format!("{url:?} is not an s3://bucket/prefix URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Config(format!("{url:?} names no bucket")));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            region: None,
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            virtual_hosted_style: false,
            encryption: None,
            part_size: 64 * 1024 * 1024,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            credential_sources: Vec::new(),
        })
    }

    /// Options for `url` from the process environment; see
    /// [`S3Options::from_vars`] for the variables read.
    pub fn from_env(url: &str) -> Result<Self> {
        Self::from_vars(url, |key| std::env::var(key).ok())
    }

    /// Options for `url` from variables looked up with `var`, following the
    /// AWS settings chain: a named profile (`AWS_PROFILE`, else `default`,
    /// from `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, by default
    /// under `~/.aws/`), overridden by `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`),
    /// `AWS_ALLOW_HTTP` and `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`. Server-side
    /// encryption: `AWS_SERVER_SIDE_ENCRYPTION` (`AES256` or `aws:kms`) and
    /// `AWS_SSE_KMS_KEY_ID`. Transfer: `STREAMLAKE_S3_PART_SIZE` (bytes),
    /// `STREAMLAKE_S3_MAX_RETRIES`, `STREAMLAKE_S3_RETRY_TIMEOUT_SECS`,
    /// `STREAMLAKE_S3_REQUEST_TIMEOUT_SECS`.
    ///
    /// Without keys from either, object_store's own chain applies at
    /// request time: web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`,
    /// `AWS_ROLE_ARN`), container credentials
    /// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`), then
    /// instance metadata. Profiles that use `role_arn`, `sso_*` or
    /// `credential_process` are not resolved.
    pub fn from_vars(url: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |key: &str| var(key).filter(|v| !v.is_empty());
        let profile = aws_profile::load(&var)?;
        let mut options = Self::new(url)?;
        let pick = |env: &[&str], profile_key: &str| {
            env.iter()
                .find_map(|k| var(k))
                .or_else(|| profile.get(profile_key).map(str::to_string))
        };
        options.region = pick(&["AWS_REGION", "AWS_DEFAULT_REGION"], "region");
        options.endpoint = pick(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"], "endpoint_url");
        // Keys come as a pair from one place: environment, else profile.
        if var("AWS_ACCESS_KEY_ID").is_some() || var("AWS_SECRET_ACCESS_KEY").is_some() {
            options.access_key_id = var("AWS_ACCESS_KEY_ID");
            options.secret_access_key = var("AWS_SECRET_ACCESS_KEY");
            options.session_token = var("AWS_SESSION_TOKEN");
        } else if let Some(key_id) = profile.get("aws_access_key_id") {
            options.access_key_id = Some(key_id.to_string());
            options.secret_access_key = profile.get("aws_secret_access_key").map(Into::into);
            options.session_token = profile.get("aws_session_token").map(Into::into);
        }
        options.credential_sources = CREDENTIAL_SOURCES
            .iter()
            .filter_map(|k| var(k).map(|v| (k.to_ascii_lowercase(), v)))
            .collect();
        if let Some(v) = var("AWS_ALLOW_HTTP") {
            options.allow_http = parse_bool("AWS_ALLOW_HTTP", &v)?;
        }
        if let Some(v) = var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST") {
            options.virtual_hosted_style = parse_bool("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", &v)?;
        }
        options.encryption = match var("AWS_SERVER_SIDE_ENCRYPTION").as_deref() {
            None => None,
            Some("AES256") => Some(S3Encryption::S3Managed),
            Some("aws:kms") => Some(S3Encryption::Kms {
                key_id: var("AWS_SSE_KMS_KEY_ID"),
            }),
            Some(other) => {
                return Err(Error::Config(format!(
                    "AWS_SERVER_SIDE_ENCRYPTION={other:?}: expected AES256 or aws:kms"
                )));
            }
        };
        if let Some(v) = var("STREAMLAKE_S3_PART_SIZE") {
            options.part_size = parse_number("STREAMLAKE_S3_PART_SIZE", &v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_MAX_RETRIES") {
            options.max_retries = parse_number("STREAMLAKE_S3_MAX_RETRIES", &v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_RETRY_TIMEOUT_SECS") {
            options.retry_timeout = seconds("STREAMLAKE_S3_RETRY_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = var("STREAMLAKE_S3_REQUEST_TIMEOUT_SECS") {
            options.request_timeout = seconds("STREAMLAKE_S3_REQUEST_TIMEOUT_SECS", &v)?;
        }
        Ok(options)
    }

    /// The AWS region (default `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:9000`. Requests
    /// use path-style addressing unless
    /// [`virtual_hosted_style`](Self::virtual_hosted_style) is set.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Static credentials (and an optional session token).
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key.into());
        self.session_token = session_token;
        self
    }

    /// Permits plain-HTTP endpoints (local S3-compatible servers).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// `https://bucket.endpoint/key` instead of `https://endpoint/bucket/key`.
    pub fn virtual_hosted_style(mut self, enabled: bool) -> Self {
        self.virtual_hosted_style = enabled;
        self
    }

    /// Server-side encryption of every object written.
    pub fn encryption(mut self, encryption: S3Encryption) -> Self {
        self.encryption = Some(encryption);
        self
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

    /// Time limit of one request attempt.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Time limit to open a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where requests go: the endpoint, or AWS's regional one.
    pub fn endpoint_name(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| {
            let region = self.region.as_deref().unwrap_or("us-east-1");
            format!("https://s3.{region}.amazonaws.com")
        })
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
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(Error::Config(
                "S3 credentials need both an access key id and a secret access key".into(),
            ));
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        let client = ClientOptions::new()
            .with_allow_http(self.allow_http)
            .with_timeout(self.request_timeout)
            .with_connect_timeout(self.connect_timeout);
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(self.region.as_deref().unwrap_or("us-east-1"))
            .with_virtual_hosted_style_request(self.virtual_hosted_style)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(retry)
            .with_client_options(client);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        for (key, value) in &self.credential_sources {
            if let Ok(key) = key.parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        match &self.encryption {
            None => {}
            Some(S3Encryption::S3Managed) => {
                let key: AmazonS3ConfigKey = "aws_server_side_encryption"
                    .parse()
                    .expect("object_store knows its own key");
                builder = builder.with_config(key, "AES256");
            }
            Some(S3Encryption::Kms { key_id: Some(key) }) => {
                builder = builder.with_sse_kms_encryption(key);
            }
            Some(S3Encryption::Kms { key_id: None }) => {
                let key: AmazonS3ConfigKey = "aws_server_side_encryption"
                    .parse()
                    .expect("object_store knows its own key");
                builder = builder.with_config(key, "aws:kms");
            }
        }
        let store = builder.build().map_err(|e| {
            Error::Config(format!(
                "S3 bucket {} at {}: {e}",
                self.bucket,
                self.endpoint_name()
            ))
        })?;
        let url = if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        };
        let mut lake = Lake::new(Arc::new(store), Path::from(self.prefix.as_str()), url);
        lake.part_size = Some(self.part_size);
        lake.secrets = [&self.secret_access_key, &self.session_token]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        lake.place = format!(
            "S3 bucket {} at {}{}",
            self.bucket,
            self.endpoint_name(),
            self.access_key_id
                .as_ref()
                .map(|id| format!(" (access key id {id})"))
                .unwrap_or_default()
        );
        Ok(lake)
    }
}

/// Secrets stay out of logs: only the access key id is shown.
impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("encryption", &self.encryption)
            .field("part_size", &self.part_size)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
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
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<S3Options> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        S3Options::from_vars("s3://bucket/some/prefix/", |k| vars.get(k).cloned())
    }

    #[test]
    fn reads_the_aws_environment_and_redacts_secrets() {
        let options = from(&[
            ("AWS_ACCESS_KEY_ID", "AKIATEST"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("AWS_SESSION_TOKEN", "token-secret"),
            ("AWS_DEFAULT_REGION", "eu-central-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_SERVER_SIDE_ENCRYPTION", "aws:kms"),
            ("AWS_SSE_KMS_KEY_ID", "alias/lake"),
            ("STREAMLAKE_S3_PART_SIZE", "6291456"),
            ("STREAMLAKE_S3_RETRY_TIMEOUT_SECS", "2.5"),
        ])
        .unwrap();
        assert_eq!(options.bucket(), "bucket");
        assert_eq!(options.prefix, "some/prefix");
        assert_eq!(options.region.as_deref(), Some("eu-central-1"));
        assert_eq!(options.endpoint_name(), "http://127.0.0.1:9");
        assert!(options.allow_http && !options.virtual_hosted_style);
        assert_eq!(
            options.encryption,
            Some(S3Encryption::Kms {
                key_id: Some("alias/lake".into())
            })
        );
        assert_eq!(options.part_size, 6 * 1024 * 1024);
        assert_eq!(options.retry_timeout, Duration::from_millis(2500));
        let debug = format!("{options:?}");
        assert!(debug.contains("AKIATEST"), "{debug}");
        assert!(!debug.contains("very-secret") && !debug.contains("token-secret"));

        let lake = options.open().unwrap();
        assert_eq!(lake.to_string(), "s3://bucket/some/prefix");
        assert_eq!(lake.root().as_ref(), "some/prefix");
        assert!(!format!("{lake:?}").contains("very-secret"));
    }

    #[test]
    fn rejects_bad_settings_by_name() {
        let err = |vars: &[(&str, &str)]| from(vars).and_then(S3Options::open).unwrap_err();
        assert!(
            err(&[("AWS_ALLOW_HTTP", "maybe")])
                .to_string()
                .contains("AWS_ALLOW_HTTP")
        );
        assert!(
            err(&[("AWS_SERVER_SIDE_ENCRYPTION", "rot13")])
                .to_string()
                .contains("AWS_SERVER_SIDE_ENCRYPTION")
        );
        assert!(
            err(&[("STREAMLAKE_S3_PART_SIZE", "1024")])
                .to_string()
                .contains("minimum")
        );
        assert!(
            err(&[("AWS_SECRET_ACCESS_KEY", "x")])
                .to_string()
                .contains("both")
        );
        assert!(S3Options::new("s3://").is_err());
        assert!(S3Options::new("gs://bucket").is_err());
    }
}
