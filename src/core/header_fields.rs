//! How repeated request header lines are read, decided once for every field the server reads.
//!
//! RFC 9110 §5.3: several lines of a list-based field mean the same as one line holding their
//! values joined with commas, so they are combined here and every reader sees one value. A
//! singleton field has one value: repeats of the same value are folded into one (RFC 9112 §6.3
//! allows it for `Content-Length`), differing values are a 400 naming the field. `Host` may not be
//! repeated at all (RFC 9112 §3.2). Fields of no kind listed here are passed on line by line.

/// How the lines of one field are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A comma-separated list: all lines are joined with ", " (RFC 9110 §5.6.1).
    List,
    /// One value: identical repeats fold into one, differing ones are refused.
    Singleton,
    /// One line only: any repeat is refused (`Host`, RFC 9112 §3.2).
    Unique,
    /// Not read by the server: lines are kept as they came.
    Other,
}

/// List-based fields (lower case): RFC 9110 §7.6.1 `Connection`, §7.8 `Upgrade`, §12.5.3
/// `Accept-Encoding`, §12.5.1 `Accept`, §10.1.4 `TE`, RFC 9112 §6.1 `Transfer-Encoding`, RFC 9111
/// §5.2 `Cache-Control`, RFC 6455 §11.3.2-3 `Sec-WebSocket-Extensions`, `Sec-WebSocket-Protocol`,
/// `X-Forwarded-For` (a list by use: each proxy appends one address; RFC 7239 §5.2 describes it),
/// and RFC 9110 §13.1.2 `If-None-Match`.
const LIST_FIELDS: [&str; 11] = [
    "connection",
    "upgrade",
    "accept-encoding",
    "accept",
    "te",
    "transfer-encoding",
    "cache-control",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "x-forwarded-for",
    "if-none-match",
];

/// Singleton fields (lower case): RFC 9110 §8.6 `Content-Length`; RFC 6455 §11.3.1 and §11.3.5
/// (`Sec-WebSocket-Key` and `Sec-WebSocket-Version` "MUST NOT appear more than once" in a request).
const SINGLETON_FIELDS: [&str; 3] = ["content-length", "sec-websocket-key", "sec-websocket-version"];

/// The kind of field `name` (any case).
pub fn kind(name: &str) -> FieldKind {
    let is = |list: &[&str]| list.iter().any(|field| field.eq_ignore_ascii_case(name));
    if name.eq_ignore_ascii_case("host") {
        FieldKind::Unique
    } else if is(&LIST_FIELDS) {
        FieldKind::List
    } else if is(&SINGLETON_FIELDS) {
        FieldKind::Singleton
    } else {
        FieldKind::Other
    }
}

/// One field after combining: its name as first sent and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: Vec<u8>,
}

/// Combines `lines` (name, value) by the kind of each field, keeping the order in which fields
/// first appear. Err is the message of a 400 naming the field repeated against its kind.
pub fn combine<'a>(lines: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Vec<Field<'a>>, String> {
    let mut fields: Vec<Field<'a>> = Vec::new();
    for (name, value) in lines {
        let kind = kind(name);
        let earlier = match kind {
            FieldKind::Other => None,
            _ => fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(name)),
        };
        let Some(earlier) = earlier else {
            fields.push(Field { name, value: value.to_vec() });
            continue;
        };
        match kind {
            FieldKind::List => {
                // Empty list elements are ignored by recipients (RFC 9110 §5.6.1).
                if earlier.value.is_empty() {
                    earlier.value = value.to_vec();
                } else if !value.is_empty() {
                    earlier.value.extend_from_slice(b", ");
                    earlier.value.extend_from_slice(value);
                }
            }
            FieldKind::Singleton if earlier.value == value => {}
            FieldKind::Singleton => {
                return Err(format!("the {name} header field appears more than once with different values"));
            }
            FieldKind::Unique => {
                return Err(format!("the {name} header field appears more than once (RFC 9112 §3.2)"));
            }
            FieldKind::Other => unreachable!("other fields are never combined"),
        }
    }
    Ok(fields)
}

/// True when the list value `value` holds `token` as one of its elements, compared without regard
/// to case (RFC 9110 §5.6.1: elements are separated by commas and optional whitespace).
pub fn list_has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|element| element.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        pairs.iter().map(|(n, v)| (*n, v.as_bytes()))
    }

    #[test]
    fn list_field_lines_are_joined_in_order() {
        let fields = combine(lines(&[("Connection", "keep-alive"), ("X-A", "1"), ("connection", "Upgrade")])).unwrap();
        assert_eq!(fields[0], Field { name: "Connection", value: b"keep-alive, Upgrade".to_vec() });
        assert_eq!(fields[1].name, "X-A");
        assert_eq!(fields.len(), 2);
    }

    #[test]
    fn identical_singleton_lines_fold_and_different_ones_are_refused() {
        let fields = combine(lines(&[("Content-Length", "0"), ("Content-Length", "0")])).unwrap();
        assert_eq!(fields.len(), 1);
        let error = combine(lines(&[("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Version", "8")])).unwrap_err();
        assert!(error.contains("Sec-WebSocket-Version"), "{error}");
    }

    #[test]
    fn host_may_not_repeat_even_with_the_same_value() {
        let error = combine(lines(&[("Host", "a"), ("Host", "a")])).unwrap_err();
        assert!(error.contains("Host"), "{error}");
    }

    #[test]
    fn other_fields_keep_every_line() {
        let fields = combine(lines(&[("X-B", "1"), ("X-B", "2")])).unwrap();
        assert_eq!(fields.len(), 2);
    }

    #[test]
    fn tokens_are_list_elements_not_substrings() {
        assert!(list_has_token("keep-alive,  UPGRADE ", "upgrade"));
        assert!(!list_has_token("upgrade-insecure", "upgrade"));
        assert!(!list_has_token("", "upgrade"));
    }
}
