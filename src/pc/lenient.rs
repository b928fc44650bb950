//! Lenient decoding of Partner Center JSON, in the ways the API contract documents: PascalCase and
//! camelCase keys, numbers sent as strings, timestamps without `Z`, sentinel dates meaning "none",
//! JSON carried inside string fields, and open-ended enums.
//!
//! Architecture invariant: every Partner Center response body is decoded through [`from_slice`],
//! so key-case normalisation happens in exactly one place.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decode a Partner Center response body into `T`, normalising object keys first so that models
/// only need to declare camelCase names. `PascalCase` keys (`"Status"`, `"Attributes"`,
/// `"Etag"`) become camelCase (`"status"`, `"attributes"`, `"etag"`).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let value: Value = serde_json::from_slice(bytes)?;
    from_value(value)
}

/// Same as [`from_slice`] for an already parsed value.
pub fn from_value<T: DeserializeOwned>(mut value: Value) -> Result<T, serde_json::Error> {
    normalize_keys(&mut value);
    serde_json::from_value(value)
}

/// Lower-case the first character of every object key, recursively. String values (including
/// JSON carried inside strings) are left untouched.
pub fn normalize_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let needs_rename = map.keys().any(|k| k.chars().next().is_some_and(char::is_uppercase));
            if needs_rename {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    normalize_keys(&mut v);
                    map.insert(camel(&k), v);
                }
            } else {
                map.values_mut().for_each(normalize_keys);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_keys),
        _ => {}
    }
}

fn camel(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) if first.is_uppercase() => first.to_lowercase().chain(chars).collect(),
        _ => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_keys_become_camel_recursively_but_strings_do_not() {
        let mut v = serde_json::json!({
            "Status": "suspended",
            "Attributes": {"Etag": "x", "ObjectType": "Subscription"},
            "Links": [{"Uri": "/a"}],
            "resourceNewValue": "{\"Id\":1}"
        });
        normalize_keys(&mut v);
        assert_eq!(v["status"], "suspended");
        assert_eq!(v["attributes"]["etag"], "x");
        assert_eq!(v["links"][0]["uri"], "/a");
        assert_eq!(v["resourceNewValue"], "{\"Id\":1}");
    }
}
