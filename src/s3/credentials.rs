//! Where S3 credentials, region and endpoint come from: one AWS settings
//! chain for S3 and Glue, on the AWS SDK's own loader (`aws-config`).
//!
//! Static keys in the environment (or set in code) go to object_store as
//! they are, as do the environment's web identity and container settings
//! (object_store's own `AWS_*` keys). Otherwise the named profile (from
//! `AWS_PROFILE`, else `default`) is read by aws-config: its `region` and
//! `endpoint_url` become settings, and its credentials (static keys, `role_arn` assume-role,
//! SSO, `credential_process`, web identity) come from aws-config's profile
//! provider, cached until shortly before they expire.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::profile::{Profile, ProfileFileCredentialsProvider, ProfileSet};
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use object_store::CredentialProvider;
use object_store::aws::{AmazonS3ConfigKey, AwsCredential};

use crate::error::{Error, Result};
use crate::lake::Secrets;

/// One setting and where it came from.
pub(super) type Setting = (AmazonS3ConfigKey, String, String);

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Profile settings that make the profile a credential source.
const CREDENTIAL_SOURCES: [&str; 7] = [
    "aws_access_key_id",
    "role_arn",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
    "credential_source",
];

/// What the settings chain gives before object_store reads the rest of
/// the environment.
pub(super) struct Resolved {
    /// Static keys from the environment, and the profile's region and
    /// endpoint.
    pub(super) settings: Vec<Setting>,
    /// The profile's credentials, when no static keys are set.
    pub(super) profile: Option<ProfileCredentials>,
}

/// Resolves the chain for these variables (`AWS_PROFILE`,
/// `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `HOME`, and the
/// static keys). A profile named explicitly but found in neither file is a
/// configuration error.
pub(super) fn resolve(vars: &BTreeMap<String, String>) -> Result<Resolved> {
    let var = |k: &str| vars.get(k).cloned();
    let explicit = var("AWS_PROFILE");
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());
    let profiles = load_profiles(vars, &name)?;
    let profile = profiles.get_profile(&name);
    if explicit.is_some() && profile.is_none() {
        return Err(Error::Config(format!(
            "AWS profile {name:?} is in neither {} nor {}",
            file_of(vars, ProfileFileKind::Credentials).display(),
            file_of(vars, ProfileFileKind::Config).display()
        )));
    }
    let from_profile = format!("AWS profile {name}");
    let mut settings = Vec::new();
    if let Some(profile) = profile {
        if let Some(region) = profile.get("region") {
            settings.push((
                AmazonS3ConfigKey::DefaultRegion,
                region.into(),
                from_profile.clone(),
            ));
        }
        if let Some(endpoint) = profile.get("endpoint_url") {
            settings.push((
                AmazonS3ConfigKey::Endpoint,
                endpoint.into(),
                from_profile.clone(),
            ));
        }
    }
    let env_keys = var("AWS_ACCESS_KEY_ID").is_some() || var("AWS_SECRET_ACCESS_KEY").is_some();
    if env_keys {
        for (key, name) in [
            (AmazonS3ConfigKey::AccessKeyId, "AWS_ACCESS_KEY_ID"),
            (AmazonS3ConfigKey::SecretAccessKey, "AWS_SECRET_ACCESS_KEY"),
            (AmazonS3ConfigKey::Token, "AWS_SESSION_TOKEN"),
        ] {
            if let Some(value) = var(name) {
                settings.push((key, value, name.to_string()));
            }
        }
    }
    let is_source = |p: &Profile| CREDENTIAL_SOURCES.iter().any(|k| p.get(k).is_some());
    let profile = match profile {
        Some(p) if !env_keys && is_source(p) => Some(ProfileCredentials::new(
            name,
            profile_files(vars),
            p.get("region").map(str::to_string),
        )),
        _ => None,
    };
    Ok(Resolved { settings, profile })
}

/// The profile files as aws-config reads them for these variables.
fn load_profiles(vars: &BTreeMap<String, String>, name: &str) -> Result<ProfileSet> {
    let env = Env::from(
        vars.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>(),
    );
    // aws-config reads the files with blocking I/O inside its async API:
    // nothing to wait for but the disk.
    futures::executor::block_on(aws_config::profile::load(
        &Fs::real(),
        &env,
        &ProfileFiles::default(),
        Some(Cow::Owned(name.to_string())),
    ))
    .map_err(|e| Error::Config(format!("reading the AWS profile files: {e}")))
}

/// `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`, else the file under
/// `$HOME/.aws/`.
fn file_of(vars: &BTreeMap<String, String>, kind: ProfileFileKind) -> PathBuf {
    let (variable, name) = match kind {
        ProfileFileKind::Config => ("AWS_CONFIG_FILE", "config"),
        _ => ("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    };
    match vars.get(variable) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(vars.get("HOME").map_or("~", String::as_str))
            .join(".aws")
            .join(name),
    }
}

/// Exactly the files these variables name, for aws-config's credential
/// provider (which otherwise reads the process environment).
fn profile_files(vars: &BTreeMap<String, String>) -> ProfileFiles {
    let mut files = ProfileFiles::builder()
        .include_default_config_file(false)
        .include_default_credentials_file(false);
    // A file that does not exist is no profile source (aws-config would
    // refuse an explicitly named missing file).
    for kind in [ProfileFileKind::Config, ProfileFileKind::Credentials] {
        let path = file_of(vars, kind);
        if path.is_file() {
            files = files.with_file(kind, path);
        }
    }
    files.build()
}

/// A profile's credentials through aws-config, for object_store: fetched
/// on first use and again shortly before they expire. Every secret it
/// hands out is added to the lake's [`Secrets`].
pub(super) struct ProfileCredentials {
    profile: String,
    provider: ProfileFileCredentialsProvider,
    secrets: Secrets,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl ProfileCredentials {
    fn new(profile: String, files: ProfileFiles, region: Option<String>) -> Self {
        let config = ProviderConfig::without_region()
            .with_http_client(super::https_client())
            .with_region(region.map(Region::new));
        let provider = ProfileFileCredentialsProvider::builder()
            .profile_name(&profile)
            .profile_files(files)
            .configure(&config)
            .build();
        Self {
            profile,
            provider,
            secrets: Secrets::default(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The profile's name.
    pub(super) fn profile(&self) -> &str {
        &self.profile
    }

    /// The secrets it has handed out (and will): the lake keeps them out
    /// of every error text.
    pub(super) fn secrets(&self) -> Secrets {
        self.secrets.clone()
    }
}

impl fmt::Debug for ProfileCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AWS profile {} (through aws-config)", self.profile)
    }
}

#[async_trait]
impl CredentialProvider for ProfileCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|e| SystemTime::now() + REFRESH_BEFORE_EXPIRY < e);
            if fresh {
                return Ok(credential.clone());
            }
        }
        let fetched = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: format!(
                    "credentials of AWS profile {}: {}",
                    self.profile,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
                .into(),
            }
        })?;
        self.secrets.add(fetched.secret_access_key());
        if let Some(token) = fetched.session_token() {
            self.secrets.add(token);
        }
        let credential = Arc::new(AwsCredential {
            key_id: fetched.access_key_id().to_string(),
            secret_key: fetched.secret_access_key().to_string(),
            token: fetched.session_token().map(str::to_string),
        });
        *cached = Some((credential.clone(), fetched.expiry()));
        Ok(credential)
    }
}

/// Settings whose values are never shown.
pub(super) fn is_secret(key: &AmazonS3ConfigKey) -> bool {
    matches!(
        key,
        AmazonS3ConfigKey::SecretAccessKey | AmazonS3ConfigKey::Token
    ) || key.as_ref().contains("customer_key")
}

/// Keys [`resolve`] decides, which the rest of the environment must not
/// set again one by one.
pub(super) fn handles(key: &AmazonS3ConfigKey) -> bool {
    matches!(
        key,
        AmazonS3ConfigKey::AccessKeyId
            | AmazonS3ConfigKey::SecretAccessKey
            | AmazonS3ConfigKey::Token
    )
}
