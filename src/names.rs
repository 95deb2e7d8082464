//! The domain's enums as text (specs, stored rows, HTTP answers): each
//! enum's `as_str` is its one text mapping, and a text that names none of
//! its values is an `UnknownName`, never a default.

/// A text that names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of {expected}")]
pub struct UnknownName {
    /// What the text should have named, e.g. `optimizer`.
    pub kind: &'static str,
    /// The text as given.
    pub value: String,
    /// The names it could have been, comma-separated.
    pub expected: String,
}

/// Implements `Display` (its `as_str`) and `FromStr` (an `UnknownName`
/// for any other text) for an enum with `ALL` and `as_str`.
macro_rules! text_enum {
    ($ty:ident, $kind:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| $crate::names::UnknownName {
                        kind: $kind,
                        value: text.to_string(),
                        expected: Self::ALL.map($ty::as_str).join(", "),
                    })
            }
        }
    };
}
pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use crate::spec::params::{Activation, Optimizer};
    use crate::spec::{Goal, Method};

    /// Every value reads back from its text, and its serde text is the same.
    #[test]
    fn text_round_trips() {
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
            T: serde::Serialize + serde::de::DeserializeOwned,
            T::Err: std::fmt::Debug,
        {
            for &v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().unwrap(), v);
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text));
                assert_eq!(serde_json::from_value::<T>(text.into()).unwrap(), v);
            }
        }
        check(&Optimizer::ALL);
        check(&Activation::ALL);
        check(&Method::ALL);
        check(&Goal::ALL);
    }

    /// The texts stored rows and HTTP answers hold today.
    #[test]
    fn texts_are_todays() {
        let texts = |all: Vec<String>| all.join(" ");
        assert_eq!(
            texts(Optimizer::ALL.map(|v| v.to_string()).into()),
            "sgd adam adamw adagrad rmsprop"
        );
        assert_eq!(
            texts(Activation::ALL.map(|v| v.to_string()).into()),
            "relu tanh sigmoid gelu"
        );
        assert_eq!(
            texts(Method::ALL.map(|v| v.to_string()).into()),
            "grid random bayes"
        );
        assert_eq!(
            texts(Goal::ALL.map(|v| v.to_string()).into()),
            "maximize minimize"
        );
    }

    /// An unknown name is an error that names it, in text and in serde.
    #[test]
    fn unknown_names_are_errors() {
        let e = "lion".parse::<Optimizer>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown optimizer `lion`; expected one of sgd, adam, adamw, adagrad, rmsprop"
        );
        assert!("Minimize".parse::<Goal>().is_err());
        assert!("".parse::<Method>().is_err());
        assert!(serde_json::from_str::<Activation>("\"swish\"").is_err());
    }
}
