//! The first pass of decoding: JSON to loosely typed fields, borrowing strings from the input.
//!
//! This pass never rejects a value for its type; it records what each known field holds so
//! that validation can name the field and the problem. serde's own "invalid type" errors
//! carry neither in a form we could match on.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON value reduced to what validation needs: scalars kept, containers only named.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Bool,
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    BigUint,
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Value<'_> {
    /// The JSON type name, for "expected X, found Y" messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool => "a boolean",
            Value::Int(_) | Value::BigUint | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Array => "an array",
            Value::Object => "an object",
        }
    }
}

/// The known fields of a trace record, each as found (or `None` when absent).
#[derive(Debug, Default)]
pub(super) struct RawTrace<'a> {
    pub v: Option<Value<'a>>,
    pub id: Option<Value<'a>>,
    pub stream: Option<Value<'a>>,
    pub kind: Option<Value<'a>>,
    pub location: Option<Value<'a>>,
    pub partition: Option<Value<'a>>,
    pub offset: Option<Value<'a>>,
    pub app: Option<Value<'a>>,
    pub group: Option<Value<'a>>,
    pub ts: Option<Value<'a>>,
    /// The first known field that appeared twice.
    pub duplicate: Option<&'static str>,
}

/// What the top-level JSON value turned out to be.
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per record and moved, not stored; boxing would allocate per record"
)]
pub(super) enum TopLevel<'a> {
    Object(RawTrace<'a>),
    /// Any other JSON value, by type name.
    Other(&'static str),
}

/// Parses `bytes` as exactly one JSON value (trailing data is a syntax error).
pub(super) fn parse(bytes: &[u8]) -> Result<TopLevel<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let top = deserializer.deserialize_any(TopLevelVisitor)?;
    deserializer.end()?;
    Ok(top)
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawTrace::default();
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            let Some((name, slot)) = raw.slot(field) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if slot.is_some() {
                map.next_value::<IgnoredAny>()?;
                raw.duplicate.get_or_insert(name);
                continue;
            }
            *slot = Some(map.next_value_seed(ValueSeed)?);
        }
        Ok(TopLevel::Object(raw))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("null"))
    }
}

/// A known field name, or `Unknown` for the ones the contract lets emitters add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    V,
    Id,
    Stream,
    Kind,
    Location,
    Partition,
    Offset,
    App,
    Group,
    Ts,
    Unknown,
}

impl<'a> RawTrace<'a> {
    /// Whether the record says it is a gap report (`"kind":"gap"`, see `trace::gap`).
    pub(super) fn is_gap(&self) -> bool {
        matches!(&self.kind, Some(Value::Str(k)) if k == super::gap::GAP_KIND)
    }

    /// The wire name and storage of a known field.
    fn slot(&mut self, field: Field) -> Option<(&'static str, &mut Option<Value<'a>>)> {
        Some(match field {
            Field::V => ("v", &mut self.v),
            Field::Id => ("id", &mut self.id),
            Field::Stream => ("stream", &mut self.stream),
            Field::Kind => ("kind", &mut self.kind),
            Field::Location => ("location", &mut self.location),
            Field::Partition => ("partition", &mut self.partition),
            Field::Offset => ("offset", &mut self.offset),
            Field::App => ("app", &mut self.app),
            Field::Group => ("group", &mut self.group),
            Field::Ts => ("ts", &mut self.ts),
            Field::Unknown => return None,
        })
    }
}

/// Matches a key against the known names without allocating, escaped or not.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
        Ok(match key {
            "v" => Field::V,
            "id" => Field::Id,
            "stream" => Field::Stream,
            "kind" => Field::Kind,
            "location" => Field::Location,
            "partition" => Field::Partition,
            "offset" => Field::Offset,
            "app" => Field::App,
            "group" => Field::Group,
            "ts" => Field::Ts,
            _ => Field::Unknown,
        })
    }
}

/// Reads any JSON value into a [`Value`], borrowing strings that hold no escapes.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value<'de>, E> {
        Ok(Value::Int(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value<'de>, E> {
        Ok(i64::try_from(n).map_or(Value::BigUint, Value::Int))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value<'de>, E> {
        Ok(Value::Float(n))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Object)
    }
}
