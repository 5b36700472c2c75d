//! Where S3 credentials come from: the one place streamlake resolves the
//! AWS credential chain itself, before object_store reads the rest of the
//! environment. Today: static keys from the environment, else from the
//! named profile (with its region and endpoint). Web identity, container
//! and instance credentials are object_store's own (its `AWS_*` keys and
//! its default chain).

use std::collections::BTreeMap;

use object_store::aws::AmazonS3ConfigKey;

use super::profile;
use crate::error::Result;

/// One setting and where it came from.
pub(super) type Setting = (AmazonS3ConfigKey, String, String);

/// The settings of the credential source. Keys come as a pair from one
/// place: the environment's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
/// `AWS_SESSION_TOKEN`, else the profile's `aws_access_key_id` /
/// `aws_secret_access_key` / `aws_session_token`. The profile's `region`
/// and `endpoint_url` come first too, so that the environment overrides
/// them.
pub(super) fn resolve(vars: &BTreeMap<String, String>) -> Result<Vec<Setting>> {
    let var = |k: &str| vars.get(k).cloned();
    let profile = profile::load(&var)?;
    let from_profile = format!("AWS profile {}", profile.name());
    let mut settings = Vec::new();
    let mut put = |key, value: Option<String>, from: &str| {
        if let Some(value) = value {
            settings.push((key, value, from.to_string()));
        }
    };
    put(
        AmazonS3ConfigKey::DefaultRegion,
        profile.get("region"),
        &from_profile,
    );
    put(
        AmazonS3ConfigKey::Endpoint,
        profile.get("endpoint_url"),
        &from_profile,
    );
    let (id, secret, token) =
        if var("AWS_ACCESS_KEY_ID").is_some() || var("AWS_SECRET_ACCESS_KEY").is_some() {
            (
                ("AWS_ACCESS_KEY_ID", var("AWS_ACCESS_KEY_ID")),
                ("AWS_SECRET_ACCESS_KEY", var("AWS_SECRET_ACCESS_KEY")),
                ("AWS_SESSION_TOKEN", var("AWS_SESSION_TOKEN")),
            )
        } else {
            (
                (from_profile.as_str(), profile.get("aws_access_key_id")),
                (from_profile.as_str(), profile.get("aws_secret_access_key")),
                (from_profile.as_str(), profile.get("aws_session_token")),
            )
        };
    put(AmazonS3ConfigKey::AccessKeyId, id.1, id.0);
    put(AmazonS3ConfigKey::SecretAccessKey, secret.1, secret.0);
    put(AmazonS3ConfigKey::Token, token.1, token.0);
    Ok(settings)
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

/// Settings whose values are never shown.
pub(super) fn is_secret(key: &AmazonS3ConfigKey) -> bool {
    matches!(
        key,
        AmazonS3ConfigKey::SecretAccessKey | AmazonS3ConfigKey::Token
    ) || key.as_ref().contains("customer_key")
}
