//! Configuration from environment variables, read once at cold start. A missing or malformed
//! variable stops the function with an error naming it.

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is {value:?}: expected {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
}

/// Where the variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.is_empty())
    }
}

pub fn required(source: &dyn Source, name: &'static str) -> Result<String, ConfigError> {
    source.get(name).ok_or(ConfigError::Missing(name))
}

pub fn optional(source: &dyn Source, name: &'static str) -> Option<String> {
    source.get(name)
}

/// A whole number in `min..=max`.
pub fn number(
    source: &dyn Source,
    name: &'static str,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    let value = required(source, name)?;
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid { name, value, expected }),
    }
}
