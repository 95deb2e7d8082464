//! How many worker processes and libtorch threads: a number or `auto`, and
//! the packing `auto` resolves to.
use serde::{Deserialize, Serialize};

/// A number of worker processes or threads: fixed, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Auto,
    Fixed(usize),
}

impl From<usize> for Count {
    fn from(n: usize) -> Count {
        Count::Fixed(n)
    }
}

impl std::str::FromStr for Count {
    type Err = String;

    fn from_str(text: &str) -> Result<Count, String> {
        match text.trim() {
            "auto" => Ok(Count::Auto),
            n => n
                .parse()
                .map(Count::Fixed)
                .map_err(|_| format!("`{n}` is neither a whole number nor \"auto\"")),
        }
    }
}

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Count::Auto => s.serialize_str("auto"),
            Count::Fixed(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number or \"auto\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(Count::Fixed(n as usize))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Count, E> {
                usize::try_from(n)
                    .map(Count::Fixed)
                    .map_err(|_| E::custom(format!("{n} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Count, E> {
                text.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How trials share the machine: worker processes, each training one trial
/// with this many libtorch threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    pub workers: usize,
    pub threads_per_trial: usize,
}
