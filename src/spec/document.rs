//! Reading a spec body into a JSON value within this server's caps: the
//! pre-scan first (`scan`), then serde_json or serde_yaml into a value that
//! refuses duplicate keys and stops at the cap on nodes, which is what bounds
//! YAML aliases (a 500 KB body of aliases to a long list expands to billions
//! of nodes).
use super::scan::{self, Exceeded};
use super::{Format, Limits, SpecError};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// The document of a spec body in `format`.
pub(super) fn read(body: &str, format: Format, limits: &Limits) -> Result<Value, SpecError> {
    let (max_nesting, max_nodes) = (limits.max_nesting as usize, limits.max_spec_nodes as usize);
    scan::check(body, format, max_nesting, max_nodes).map_err(|e| match e {
        Exceeded::Nesting { line, column } => {
            nesting_error(max_nesting, &format!(" (line {line}, column {column})"))
        }
        Exceeded::Nodes => nodes_error(max_nodes),
    })?;
    let mut state = State {
        path: Vec::new(),
        nodes: 0,
        max_nodes,
        max_nesting,
        refused: None,
    };
    let parsed = match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(body);
            Node(&mut state)
                .deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v))
                .map_err(|e| format!("invalid JSON: {e}"))
        }
        Format::Yaml => Node(&mut state)
            .deserialize(serde_yaml::Deserializer::from_str(body))
            .map_err(|e| format!("invalid YAML: {e}")),
    };
    match (parsed, state.refused) {
        (_, Some(refused)) => Err(refused),
        (Ok(value), None) => Ok(value),
        (Err(message), None) => Err(SpecError::new("body", message)),
    }
}

fn nesting_error(max: usize, at: &str) -> SpecError {
    SpecError::new(
        "body",
        format!("lists and mappings nest deeper than this server's cap of {max} levels (limits.max_nesting){at}"),
    )
}

fn nodes_error(max: usize) -> SpecError {
    SpecError::new(
        "body",
        format!("the document has more than this server's cap of {max} keys and values, aliases expanded (limits.max_spec_nodes)"),
    )
}

/// One step of the path to a node, for naming a duplicate key.
enum Step {
    Key(String),
    Index(usize),
}

struct State {
    path: Vec<Step>,
    nodes: usize,
    max_nodes: usize,
    max_nesting: usize,
    /// Why the document was refused, when it was for a cap or a duplicate;
    /// the deserializer only carries a message.
    refused: Option<SpecError>,
}

impl State {
    fn refuse<E: serde::de::Error>(&mut self, error: SpecError) -> E {
        let e = E::custom(&error);
        self.refused = Some(error);
        e
    }

    fn count<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return Err(self.refuse(nodes_error(self.max_nodes)));
        }
        Ok(())
    }

    /// The dotted path of the current node, with `key` under it if any.
    fn field(&self, key: Option<&str>) -> String {
        let steps = self.path.iter().map(|step| match step {
            Step::Key(k) => Err(k.as_str()),
            Step::Index(i) => Ok(*i),
        });
        let mut field = String::new();
        for step in steps.chain(key.map(Err)) {
            match step {
                Ok(i) => field.push_str(&format!("[{i}]")),
                Err(k) => {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(k);
                }
            }
        }
        field
    }
}

/// A node of the document: builds the same value serde_json's own `Value`
/// would, refusing duplicate keys and counting nodes and depth.
struct Node<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        self.0.count()?;
        Number::from_i128(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("JSON number out of range"))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        self.0.count()?;
        Number::from_u128(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("JSON number out of range"))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.count()?;
        // As serde_json: a non-finite number becomes null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::String(v))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.count()?;
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let state = self.0;
        state.count()?;
        enter(state)?;
        let mut items = Vec::new();
        loop {
            state.path.push(Step::Index(items.len()));
            let item = seq.next_element_seed(Node(&mut *state));
            state.path.pop();
            match item? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let state = self.0;
        state.count()?;
        enter(state)?;
        let mut entries = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            state.count()?;
            if entries.contains_key(&key) {
                let field = state.field(Some(&key));
                return Err(state.refuse(SpecError::new(
                    field,
                    "appears twice; a key may be given once",
                )));
            }
            state.path.push(Step::Key(key));
            let value = map.next_value_seed(Node(&mut *state));
            let Some(Step::Key(key)) = state.path.pop() else {
                unreachable!("the key pushed above")
            };
            entries.insert(key, value?);
        }
        Ok(Value::Object(entries))
    }
}

/// Refuses a list or mapping nested deeper than the cap (aliases can nest a
/// document deeper than its text does).
fn enter<E: serde::de::Error>(state: &mut State) -> Result<(), E> {
    let depth = 1 + state.path.len();
    if depth > state.max_nesting {
        let at = format!(" (at {})", state.field(None));
        return Err(state.refuse(nesting_error(state.max_nesting, &at)));
    }
    Ok(())
}

/// A mapping key: a string, as serde_json's `Value` reads keys.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}
