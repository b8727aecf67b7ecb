//! JSON helpers: paths, defaults, merge patch, apply's merge and pruning, hashing.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

/// Sets `path` in `v`, making objects on the way.
pub(super) fn set_path(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for p in parents {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(o) = cur.as_object_mut() else { return };
        cur = o.entry((*p).to_owned()).or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    if let Some(o) = cur.as_object_mut() {
        o.insert((*last).to_owned(), value);
    }
}

/// Sets `key` of object `v` when missing.
pub(super) fn default_key(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut()
        && !o.contains_key(key)
    {
        o.insert(key.to_owned(), value);
    }
}

/// RFC 7386 JSON merge patch.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Server-side apply's merge, simplified: maps key by key, everything else (lists included)
/// replaced whole; a `null` removes the field.
pub(super) fn merge_apply(live: &mut Value, config: &Value) {
    merge_patch(live, config);
}

/// Removes from `live` what `previous` applied and `current` no longer applies.
pub(super) fn prune(live: &mut Value, previous: &Value, current: &Value) {
    let (Some(prev), Some(l)) = (previous.as_object(), live.as_object_mut()) else {
        return;
    };
    let nothing = Value::Object(Map::new());
    for (k, pv) in prev {
        let cv = current.get(k);
        if pv.is_object() && cv.is_none_or(Value::is_object) {
            // A map this manager applied: only its own keys go (others' keys stay).
            if let Some(lv) = l.get_mut(k) {
                prune(lv, pv, cv.unwrap_or(&nothing));
                if cv.is_none() && lv.as_object().is_some_and(Map::is_empty) {
                    l.remove(k);
                }
            }
        } else if cv.is_none() {
            l.remove(k);
        }
    }
}

/// Removes from an applied configuration the fields `taken` sets (another manager took them).
pub(super) fn disown(applied: &mut Value, taken: &Value) {
    let (Some(a), Some(t)) = (applied.as_object_mut(), taken.as_object()) else {
        return;
    };
    for (k, tv) in t {
        let nested = tv.is_object() && a.get(k).is_some_and(Value::is_object);
        if nested {
            if let Some(av) = a.get_mut(k) {
                disown(av, tv);
            }
        } else {
            a.remove(k);
        }
    }
}

pub(super) fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn now_rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// FNV-1a, 64 bits.
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A `pod-template-hash` (10 characters from Kubernetes' "safe" alphabet).
pub(super) fn template_hash(template: &Value) -> String {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv(&template.to_string());
    let mut out = String::new();
    for _ in 0..10 {
        let i = usize::try_from(h % 27).unwrap_or(0);
        out.push(char::from(SAFE[i]));
        h /= 27;
    }
    out
}
