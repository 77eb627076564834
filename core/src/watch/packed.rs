//! Optional numbers in the space of the number: the watch keeps a few of them for every
//! (group, partition), 400,000 pairs at issue 10's size, where an `Option<i64>` costs 16 bytes
//! and these cost 8. They serialize exactly as the `Option` they stand for (a number or null).

use serde::{Serialize, Serializer};

use crate::model::Millis;
use crate::offsets::Observed;

/// An `Option<i64>`; `i64::MIN` stands for none (offsets, counts and times never take it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaybeI64(i64);

impl MaybeI64 {
    pub const NONE: MaybeI64 = MaybeI64(i64::MIN);

    pub fn new(value: Option<i64>) -> MaybeI64 {
        value.map_or(MaybeI64::NONE, MaybeI64)
    }

    pub fn get(self) -> Option<i64> {
        (self != MaybeI64::NONE).then_some(self.0)
    }
}

impl Default for MaybeI64 {
    fn default() -> Self {
        MaybeI64::NONE
    }
}

impl From<Option<i64>> for MaybeI64 {
    fn from(value: Option<i64>) -> Self {
        MaybeI64::new(value)
    }
}

impl PartialEq<Option<i64>> for MaybeI64 {
    fn eq(&self, other: &Option<i64>) -> bool {
        self.get() == *other
    }
}

impl PartialEq<MaybeI64> for Option<i64> {
    fn eq(&self, other: &MaybeI64) -> bool {
        *self == other.get()
    }
}

impl std::fmt::Debug for MaybeI64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for MaybeI64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

/// An `Option<f64>`; NaN stands for none (lags and ages are never NaN).
#[derive(Clone, Copy)]
pub struct MaybeF64(f64);

impl MaybeF64 {
    pub const NONE: MaybeF64 = MaybeF64(f64::NAN);

    pub fn new(value: Option<f64>) -> MaybeF64 {
        value
            .filter(|v| !v.is_nan())
            .map_or(MaybeF64::NONE, MaybeF64)
    }

    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl Default for MaybeF64 {
    fn default() -> Self {
        MaybeF64::NONE
    }
}

impl From<Option<f64>> for MaybeF64 {
    fn from(value: Option<f64>) -> Self {
        MaybeF64::new(value)
    }
}

impl PartialEq for MaybeF64 {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl PartialEq<Option<f64>> for MaybeF64 {
    fn eq(&self, other: &Option<f64>) -> bool {
        self.get() == *other
    }
}

impl PartialEq<MaybeF64> for Option<f64> {
    fn eq(&self, other: &MaybeF64) -> bool {
        *self == other.get()
    }
}

impl std::fmt::Debug for MaybeF64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for MaybeF64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

/// A committed offset as the evaluator remembers it: not read yet, read with no commit, or
/// an offset (`Option<Option<i64>>` in 8 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MaybeCommit(i64);

impl MaybeCommit {
    const UNREAD: i64 = i64::MIN;
    const NO_COMMIT: i64 = i64::MIN + 1;

    pub fn new(value: Option<Option<i64>>) -> MaybeCommit {
        MaybeCommit(match value {
            None => Self::UNREAD,
            Some(None) => Self::NO_COMMIT,
            Some(Some(offset)) => offset,
        })
    }

    pub fn get(self) -> Option<Option<i64>> {
        match self.0 {
            Self::UNREAD => None,
            Self::NO_COMMIT => Some(None),
            offset => Some(Some(offset)),
        }
    }
}

impl Default for MaybeCommit {
    fn default() -> Self {
        MaybeCommit(Self::UNREAD)
    }
}

impl std::fmt::Debug for MaybeCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// A read of an offset that may have failed: `Option<Observed<i64>>` in 16 bytes (24 as an
/// `Option`); `read_at == i64::MIN` stands for not read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OffsetRead {
    value: i64,
    read_at: Millis,
}

impl OffsetRead {
    pub const NONE: OffsetRead = OffsetRead {
        value: 0,
        read_at: i64::MIN,
    };

    pub fn get(self) -> Option<Observed<i64>> {
        (self.read_at != i64::MIN).then_some(Observed {
            value: self.value,
            read_at: self.read_at,
        })
    }
}

impl From<Option<Observed<i64>>> for OffsetRead {
    fn from(read: Option<Observed<i64>>) -> Self {
        read.map_or(OffsetRead::NONE, |o| OffsetRead {
            value: o.value,
            read_at: o.read_at,
        })
    }
}

impl std::fmt::Debug for OffsetRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// A read of a committed offset that may have failed, and may have found no commit:
/// `Option<Observed<Option<i64>>>` in 16 bytes (32 as an `Option`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommitRead {
    value: MaybeI64,
    read_at: Millis,
}

impl CommitRead {
    pub const NONE: CommitRead = CommitRead {
        value: MaybeI64::NONE,
        read_at: i64::MIN,
    };

    pub fn get(self) -> Option<Observed<Option<i64>>> {
        (self.read_at != i64::MIN).then_some(Observed {
            value: self.value.get(),
            read_at: self.read_at,
        })
    }
}

impl From<Option<Observed<Option<i64>>>> for CommitRead {
    fn from(read: Option<Observed<Option<i64>>>) -> Self {
        read.map_or(CommitRead::NONE, |o| CommitRead {
            value: MaybeI64::new(o.value),
            read_at: o.read_at,
        })
    }
}

impl std::fmt::Debug for CommitRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stands_for_its_option_and_serializes_as_it() {
        for value in [None, Some(0), Some(-1), Some(i64::MAX), Some(i64::MIN + 2)] {
            let packed = MaybeI64::new(value);
            assert_eq!(packed.get(), value);
            assert_eq!(
                serde_json::to_string(&packed).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
        for value in [None, Some(0.0), Some(1.5), Some(-2.25)] {
            let packed = MaybeF64::new(value);
            assert_eq!(packed.get(), value);
            assert_eq!(
                serde_json::to_string(&packed).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
        assert_eq!(MaybeF64::new(Some(f64::NAN)).get(), None);
        for value in [None, Some(None), Some(Some(0)), Some(Some(42))] {
            assert_eq!(MaybeCommit::new(value).get(), value);
        }
        assert_eq!(std::mem::size_of::<MaybeCommit>(), 8);
        for read in [
            None,
            Some(Observed {
                value: 7,
                read_at: 1_000,
            }),
        ] {
            assert_eq!(OffsetRead::from(read).get(), read);
        }
        for read in [
            None,
            Some(Observed {
                value: None,
                read_at: 1_000,
            }),
            Some(Observed {
                value: Some(3),
                read_at: 2_000,
            }),
        ] {
            assert_eq!(CommitRead::from(read).get(), read);
        }
    }
}
