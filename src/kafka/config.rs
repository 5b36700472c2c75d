//! Kafka client settings: a librdkafka key/value map, from code or from the
//! environment, with secrets redacted from `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;

use crate::error::{Error, Result};

/// librdkafka settings (`bootstrap.servers`, `security.protocol`,
/// `sasl.password`, ...), passed through unchanged, so every librdkafka
/// option works, SASL and SSL included.
///
/// ```
/// use streamlake::kafka::KafkaConfig;
/// let config = KafkaConfig::new("127.0.0.1:9092")
///     .set("security.protocol", "SASL_SSL")
///     .set("sasl.password", "hunter2");
/// assert_eq!(config.brokers(), "127.0.0.1:9092");
/// assert!(!format!("{config:?}").contains("hunter2"));
///
/// let env = [("KAFKA_BROKERS", "b:9092"), ("KAFKA_SASL_USERNAME", "me"), ("HOME", "/root")];
/// let config = KafkaConfig::from_vars(env.map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
/// assert_eq!(config.get("sasl.username"), Some("me"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaConfig {
    settings: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// Settings for the brokers in `brokers` (`host:port[,host:port...]`).
    pub fn new(brokers: impl Into<String>) -> Self {
        Self::default().set("bootstrap.servers", brokers)
    }

    /// Settings from the environment: `KAFKA_BROKERS` (required) becomes
    /// `bootstrap.servers`; every other `KAFKA_FOO_BAR` becomes `foo.bar`.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// [`from_env`](Self::from_env) over any list of variables.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut config = Self::default();
        for (name, value) in vars {
            if name == "KAFKA_BROKERS" {
                config = config.set("bootstrap.servers", value);
            } else if let Some(key) = name.strip_prefix("KAFKA_") {
                config = config.set(key.to_ascii_lowercase().replace('_', "."), value);
            }
        }
        if config.brokers().is_empty() {
            return Err(Error::Config("KAFKA_BROKERS is not set".into()));
        }
        Ok(config)
    }

    /// Sets one librdkafka setting.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.insert(key.into(), value.into());
        self
    }

    /// Sets `key=value` pairs, as given on a command line (`-X key=value`).
    pub fn set_all<'a>(mut self, pairs: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        for pair in pairs {
            // The text is not shown: `-X sasl.password:hunter2` holds a secret.
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                Error::Config(format!(
                    "a Kafka setting ({} characters, not shown) is not key=value",
                    pair.chars().count()
                ))
            })?;
            self = self.set(key.trim(), value.trim());
        }
        Ok(self)
    }

    /// One setting, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// The bootstrap broker list.
    pub fn brokers(&self) -> &str {
        self.get("bootstrap.servers").unwrap_or("")
    }

    /// These settings as an `rdkafka` client configuration, for building
    /// other rdkafka clients with the same connection settings.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with(&[])
    }

    /// librdkafka settings with `defaults` under the user's own.
    pub(crate) fn client_config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        for (k, v) in &self.settings {
            config.set(k, v);
        }
        config
    }
}

/// Settings librdkafka marks sensitive (`_RK_SENSITIVE` in
/// `rdkafka_conf.c`, librdkafka 2.12).
const SENSITIVE: [&str; 13] = [
    "sasl.oauthbearer.assertion.private.key.file",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "sasl.password",
    "sasl.username",
    "ssl.ca.pem",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "ssl_key",
];

/// True for settings whose values must never be printed: what librdkafka
/// marks sensitive, and anything named like a secret.
fn is_secret(key: &str) -> bool {
    SENSITIVE.contains(&key)
        || [
            "password",
            "secret",
            "passphrase",
            "private.key",
            ".pem",
            "token",
        ]
        .iter()
        .any(|s| key.contains(s))
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.settings {
            if is_secret(k) {
                map.entry(k, &"<redacted>");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_maps_to_librdkafka_keys_and_secrets_are_redacted() {
        let vars = [
            ("KAFKA_BROKERS", "a:1,b:2"),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_PASSWORD", "s3cret"),
            ("KAFKA_SSL_KEY_PASSWORD", "k3y"),
            ("PATH", "/bin"),
        ];
        let config = KafkaConfig::from_vars(vars.map(|(k, v)| (k.into(), v.into()))).unwrap();
        assert_eq!(config.brokers(), "a:1,b:2");
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("path"), None);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("k3y"),
            "{debug}"
        );
        assert!(debug.contains("SASL_SSL"));
        assert!(matches!(
            KafkaConfig::from_vars(Vec::new()),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn every_sensitive_setting_is_redacted_and_bad_pairs_are_not_echoed() {
        let mut config = KafkaConfig::new("b:9092");
        for key in SENSITIVE {
            config = config.set(key, format!("secret-of-{key}"));
        }
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret-of-"), "{debug}");
        assert!(debug.contains("b:9092"));
        let err = KafkaConfig::new("b:9092")
            .set_all(["sasl.password:hunter2"])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
