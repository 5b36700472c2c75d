//! Named profiles from the AWS shared files (`~/.aws/credentials` and
//! `~/.aws/config`), the part of the AWS settings chain object_store does
//! not read itself.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// One profile's settings, keys lowercased (`aws_access_key_id`, `region`,
/// `endpoint_url`, ...). The credentials file wins over the config file.
#[derive(Default)]
pub(crate) struct Profile {
    name: String,
    values: HashMap<String, String>,
}

impl Profile {
    /// A setting of the profile.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }

    /// The profile's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Loads profile `name` (from `AWS_PROFILE`, else `default`), looking up
/// files through `var` (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`,
/// `HOME`). Missing files are fine; a profile named explicitly but found in
/// neither file is a configuration error.
pub(crate) fn load(var: &dyn Fn(&str) -> Option<String>) -> Result<Profile> {
    let explicit = var("AWS_PROFILE");
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());
    let home = var("HOME").map(PathBuf::from);
    let file = |env: &str, default: &str| {
        var(env)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let mut profile = Profile {
        name: name.clone(),
        ..Profile::default()
    };
    let mut found = false;
    // Config first, credentials second: later files override.
    let config_section = if name == "default" {
        name.clone()
    } else {
        format!("profile {name}")
    };
    for (path, section) in [
        (file("AWS_CONFIG_FILE", "config"), config_section.as_str()),
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), &name),
    ] {
        let Some(path) = path else { continue };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        if let Some(values) = section_of(&text, section) {
            found = true;
            profile.values.extend(values);
        }
    }
    if let (Some(name), false) = (explicit, found) {
        return Err(Error::Config(format!(
            "AWS profile {name:?} is not in the AWS config or credentials file"
        )));
    }
    Ok(profile)
}

/// The `key = value` pairs of `[section]` in an INI file.
fn section_of(text: &str, section: &str) -> Option<HashMap<String, String>> {
    let mut current: Option<&str> = None;
    let mut values: Option<HashMap<String, String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim());
            if current == Some(section) {
                values.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if current != Some(section) {
            continue;
        }
        if let (Some(map), Some((key, value))) = (values.as_mut(), line.split_once('=')) {
            map.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_profile_with_credentials_over_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n\n[profile lake]\nregion = us-east-2\n\
             endpoint_url = http://127.0.0.1:9000\naws_access_key_id = FROMCONFIG\n",
        )
        .unwrap();
        std::fs::write(
            &credentials,
            "# comment\n[lake]\naws_access_key_id = AKIALAKE\naws_secret_access_key = s3cr3t\n",
        )
        .unwrap();
        let vars = HashMap::from([
            ("AWS_PROFILE", "lake".to_string()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.display().to_string(),
            ),
        ]);
        let profile = load(&|k| vars.get(k).cloned()).unwrap();
        assert_eq!(profile.get("region").as_deref(), Some("us-east-2"));
        assert_eq!(
            profile.get("endpoint_url").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            profile.get("aws_access_key_id").as_deref(),
            Some("AKIALAKE")
        );
        assert_eq!(
            profile.get("aws_secret_access_key").as_deref(),
            Some("s3cr3t")
        );

        let vars = HashMap::from([("AWS_CONFIG_FILE", config.display().to_string())]);
        let default = load(&|k| vars.get(k).cloned()).unwrap();
        assert_eq!(default.get("region").as_deref(), Some("eu-west-1"));

        let vars = HashMap::from([("AWS_PROFILE", "missing".to_string())]);
        let err = load(&|k| vars.get(k).cloned()).err().unwrap();
        assert!(err.to_string().contains("\"missing\""), "{err}");
    }
}
