//! `Facts`: the numbers behind a finding, by name (amounts as decimal text, dates ISO).
//!
//! A small map kept as a vector sorted by key, so a finding with a handful of facts costs one
//! allocation for the vector plus its values: keys are almost always literals (`"currency"`,
//! `"spend"`) and are stored borrowed, and there is no B-tree node. A large tenant's plan holds
//! tens of thousands of findings (issue 18).
//!
//! It behaves like the `BTreeMap<String, String>` it replaced: iteration, `Debug` and JSON are in
//! key order, JSON is an object (byte-identical to the map's), and loading a JSON object sorts it
//! and keeps the last of duplicate keys. A leaf: it imports nothing from the crate.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A fact's name: borrowed when it is a literal, owned when it is built (`outstanding_USD`).
pub type FactKey = Cow<'static, str>;

/// Named facts in key order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Sorted by key, keys unique.
    entries: Vec<(FactKey, String)>,
}

impl Facts {
    /// No facts.
    pub fn new() -> Facts {
        Facts::default()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(key))
    }

    /// Set a fact; returns the value it replaced, like a map.
    pub fn insert(&mut self, key: impl Into<FactKey>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// The value of a fact.
    pub fn get(&self, key: &str) -> Option<&str> {
        let i = self.position(key).ok()?;
        Some(&self.entries[i].1)
    }

    /// Whether a fact is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// The facts in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// How many facts there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Release spare capacity (once the facts are complete).
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

/// The facts in key order, as `(name, value)`.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (FactKey, String)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (&**k, v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Facts {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: Into<FactKey>, V: Into<String>> FromIterator<(K, V)> for Facts {
    /// Later duplicates replace earlier ones, like collecting into a map; the vector is exact.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Facts {
        let mut entries: Vec<(FactKey, String)> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // Reversed, a stable sort puts the last of equal keys first, and `dedup` keeps the first.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, first| later.0 == first.0);
        entries.shrink_to_fit();
        Facts { entries }
    }
}

impl<K: Into<FactKey>, V: Into<String>, const N: usize> From<[(K, V); N]> for Facts {
    fn from(entries: [(K, V); N]) -> Facts {
        entries.into_iter().collect()
    }
}

impl<K: Into<FactKey>, V: Into<String>> Extend<(K, V)> for Facts {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl std::ops::Index<&str> for Facts {
    type Output = String;

    /// The value of a fact that must be there; panics otherwise, like a map.
    fn index(&self, key: &str) -> &String {
        match self.position(key) {
            Ok(i) => &self.entries[i].1,
            Err(_) => panic!("no fact named {key:?}"),
        }
    }
}

impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Facts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Facts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Facts, D::Error> {
        struct FactsVisitor;

        impl<'de> Visitor<'de> for FactsVisitor {
            type Value = Facts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of fact names to text")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Facts, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    entries.push((k, v));
                }
                Ok(entries.into_iter().collect())
            }
        }

        deserializer.deserialize_map(FactsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn insert_keeps_key_order_and_replaces() {
        let mut f = Facts::new();
        assert!(f.is_empty());
        assert_eq!(f.insert("spend", "10"), None);
        assert_eq!(f.insert("currency", "USD"), None);
        assert_eq!(f.insert(format!("outstanding_{}", "EUR"), "5"), None);
        assert_eq!(f.insert("spend", "12"), Some("10".to_owned()));
        assert_eq!(f.len(), 3);
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [
                ("currency", "USD"),
                ("outstanding_EUR", "5"),
                ("spend", "12")
            ]
        );
        assert_eq!(f.get("spend"), Some("12"));
        assert_eq!(f["currency"], "USD");
        assert_eq!(f.get("budget"), None);
        assert!(f.contains_key("outstanding_EUR"));
        assert!(!f.contains_key("outstanding"));
    }

    #[test]
    fn collecting_keeps_the_last_of_duplicate_keys_like_a_map() {
        let f: Facts = [("b", "1"), ("a", "2"), ("b", "3"), ("a", "4"), ("c", "5")]
            .into_iter()
            .collect();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("a", "4"), ("b", "3"), ("c", "5")]
        );
        let mut g = Facts::from([("b", "1")]);
        g.extend([("a", "2"), ("b", "3")]);
        assert_eq!(g.iter().collect::<Vec<_>>(), [("a", "2"), ("b", "3")]);
    }

    #[test]
    fn debug_prints_like_a_map() {
        let f = Facts::from([("b", "1"), ("a", "2")]);
        let m = BTreeMap::from([("b", "1"), ("a", "2")]);
        assert_eq!(format!("{f:?}"), format!("{m:?}"));
    }

    #[test]
    fn json_loads_in_any_order_and_keeps_the_last_duplicate() {
        let f: Facts = serde_json::from_str(r#"{"z":"1","a":"2","m":"3","a":"4"}"#).unwrap();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("a", "4"), ("m", "3"), ("z", "1")]
        );
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"a":"4","m":"3","z":"1"}"#
        );
        let empty: Facts = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert!(serde_json::from_str::<Facts>(r#"["a"]"#).is_err());
    }

    proptest! {
        #[test]
        fn json_is_the_maps_json_and_round_trips(
            pairs in proptest::collection::vec(("[a-zA-Z_: ]{0,8}", "\\PC{0,12}"), 0..12)
        ) {
            let facts: Facts = pairs.iter().cloned().collect();
            let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
            let json = serde_json::to_string(&facts).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&map).unwrap());
            prop_assert_eq!(
                serde_json::to_string_pretty(&facts).unwrap(),
                serde_json::to_string_pretty(&map).unwrap()
            );
            let back: Facts = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &facts);
            prop_assert_eq!(facts.len(), map.len());
            for (k, v) in &map {
                prop_assert_eq!(facts.get(k), Some(v.as_str()));
            }
            let mut inserted = Facts::new();
            for (k, v) in pairs {
                inserted.insert(k, v);
            }
            prop_assert_eq!(inserted, facts);
        }
    }
}
