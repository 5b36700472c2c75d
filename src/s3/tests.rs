//! `S3Options`: the settings chain, precedence, redaction and errors.

use super::*;

fn from(vars: &[(&str, &str)]) -> Result<S3Options> {
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    S3Options::from_vars("s3://bucket/some/prefix/", vars)
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
        ("HOME", "/nonexistent"),
    ])
    .unwrap();
    assert_eq!(options.bucket(), "bucket");
    assert_eq!(options.prefix, "some/prefix");
    assert_eq!(
        options.get(AmazonS3ConfigKey::DefaultRegion),
        Some("eu-central-1")
    );
    assert_eq!(options.endpoint_name(), "http://127.0.0.1:9");
    assert_eq!(
        options.get(AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp)),
        Some("true")
    );
    assert_eq!(
        options.get("aws_sse_kms_key_id".parse().unwrap()),
        Some("alias/lake")
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
fn setters_win_over_the_environment() {
    let options = from(&[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_S3", "http://a:1"),
    ])
    .unwrap()
    .region("ap-south-1")
    .endpoint("http://b:2");
    assert_eq!(options.get(AmazonS3ConfigKey::Region), Some("ap-south-1"));
    assert_eq!(options.endpoint_name(), "http://b:2");
}

#[test]
fn rejects_bad_settings_by_name() {
    let err = |vars: &[(&str, &str)]| from(vars).and_then(S3Options::open).unwrap_err();
    let e = err(&[("AWS_ALLOW_HTTP", "maybe")]).to_string();
    assert!(e.contains("AWS_ALLOW_HTTP"), "{e}");
    let e = err(&[("AWS_SERVER_SIDE_ENCRYPTION", "rot13")]).to_string();
    assert!(e.contains("AWS_SERVER_SIDE_ENCRYPTION"), "{e}");
    let e = err(&[("STREAMLAKE_S3_PART_SIZE", "1024")]).to_string();
    assert!(e.contains("minimum"), "{e}");
    let e = err(&[("AWS_SECRET_ACCESS_KEY", "x")]).to_string();
    assert!(e.contains("both") && !e.contains("\"x\""), "{e}");
    assert!(S3Options::new("s3://").is_err());
    assert!(S3Options::new("gs://bucket").is_err());
}
