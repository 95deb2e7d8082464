//! The API token: a secret kept out of `Debug` and compared in constant time.
use super::ConfigError;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Shortest API token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The API token: a secret that `Debug` never shows and that is compared in
/// constant time.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text; see [`ApiToken::validate`] for what is accepted.
    pub fn new(text: impl Into<String>) -> Result<ApiToken, ConfigError> {
        let token = ApiToken(text.into());
        token.validate()?;
        Ok(token)
    }

    /// Parses a token given on the command line or in the environment.
    pub fn parse(text: &str) -> Result<ApiToken, ConfigError> {
        ApiToken::new(text)
    }

    /// At least [`MIN_TOKEN_LEN`] characters of RFC 6750's `b64token` alphabet
    /// (letters, digits, `-._~+/=`), so it fits a header and a cookie unquoted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
        if self.0.chars().count() < MIN_TOKEN_LEN {
            return Err(ConfigError::Invalid(format!(
                "api_token must be at least {MIN_TOKEN_LEN} characters long"
            )));
        }
        if !self.0.chars().all(allowed) {
            return Err(ConfigError::Invalid(
                "api_token may hold only letters, digits and `-._~+/=`".into(),
            ));
        }
        Ok(())
    }

    /// Whether `candidate` is this token; the time taken does not depend on
    /// where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }

    /// A fresh random token (256 bits, hex): what a server gives its own
    /// workers when none is configured.
    pub fn random() -> ApiToken {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        ApiToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The secret itself, for a client to send or a cookie to carry.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl PartialEq for ApiToken {
    fn eq(&self, other: &ApiToken) -> bool {
        self.matches(other.0.as_bytes())
    }
}
