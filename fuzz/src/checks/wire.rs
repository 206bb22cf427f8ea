//! Independent readers and writers of the formats under test: the entries
//! form, flat JSON objects, percent-encoded bodies and ISO dates. None of
//! them calls the code under test.

use coola_tracker::core::batch::BodyFormat;

/// One entry as the JavaScript shell writes it:
/// `<tag><key length>:<key><value length>:<value>`, lengths in UTF-16 units.
pub fn write_entry(out: &mut String, tag: char, key: &str, val: &str) {
    out.push(tag);
    out.push_str(&key.encode_utf16().count().to_string());
    out.push(':');
    out.push_str(key);
    out.push_str(&val.encode_utf16().count().to_string());
    out.push(':');
    out.push_str(val);
}

/// A value of a flat JSON object, as it is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A string, unescaped.
    Str(String),
    /// A number, its text exactly as written.
    Num(String),
}

/// Reads a JSON object whose values are all strings or numbers, written
/// without whitespace, keeping the order and any repeated names. Also checks
/// that `serde_json` reads the same text as a JSON object.
pub fn parse_flat(json: &str) -> Result<Vec<(String, Tok)>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}: {json:.200}"))?;
    if !v.is_object() {
        return Err(format!("not an object: {json:.200}"));
    }
    let b = json.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let expect = |i: usize, c: u8| {
        if b.get(i) == Some(&c) {
            Ok(i + 1)
        } else {
            Err(format!("expected {:?} at byte {i} of {json:.200}", c as char))
        }
    };
    i = expect(i, b'{')?;
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let (key, j) = string_at(json, i)?;
            i = expect(j, b':')?;
            let (val, j) = if b.get(i) == Some(&b'"') {
                let (s, j) = string_at(json, i)?;
                (Tok::Str(s), j)
            } else {
                let start = i;
                let mut j = i;
                while b.get(j).is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c)) {
                    j += 1;
                }
                if j == start {
                    return Err(format!(
                        "a value that is neither a string nor a number at byte {i}: {json:.200}"
                    ));
                }
                (Tok::Num(json[start..j].to_string()), j)
            };
            out.push((key, val));
            i = j;
            if b.get(i) == Some(&b',') {
                i += 1;
            } else {
                i = expect(i, b'}')?;
                break;
            }
        }
    }
    if i != b.len() {
        return Err(format!("text after the object: {json:.200}"));
    }
    Ok(out)
}

/// The JSON string literal starting at byte `i`, unescaped, and the index after it.
fn string_at(json: &str, i: usize) -> Result<(String, usize), String> {
    let b = json.as_bytes();
    if b.get(i) != Some(&b'"') {
        return Err(format!("expected a string at byte {i}: {json:.200}"));
    }
    let mut j = i + 1;
    loop {
        match b.get(j) {
            None => return Err(format!("unterminated string: {json:.200}")),
            Some(b'\\') => j += 2,
            Some(b'"') => break,
            Some(_) => j += 1,
        }
    }
    let lit = &json[i..=j];
    let s: String = serde_json::from_str(lit).map_err(|e| format!("bad string literal {lit:.100}: {e}"))?;
    Ok((s, j + 1))
}

/// Bytes that [`percent_decode`] accepts unescaped: what `encodeURIComponent`
/// leaves as it is (both formats are its output; a form decoder reads those
/// bytes literally too), and `+` for a space in a form.
fn safe(b: u8, form: bool) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')')
        || (form && b == b'+')
}

/// Percent-decoding as `URLSearchParams` (`form`: `+` is a space) or
/// `decodeURIComponent` reads it. Strict: any byte that the encoding should
/// have escaped, a bad escape or bytes that are not UTF-8 are errors.
pub fn percent_decode(s: &str, form: bool) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("truncated escape at byte {i}"))?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return Err(format!("bad escape %{hex} at byte {i}"));
            }
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else if safe(c, form) {
            out.push(if form && c == b'+' { b' ' } else { c });
            i += 1;
        } else {
            return Err(format!("byte {c:#04x} left unescaped at {i}"));
        }
    }
    String::from_utf8(out).map_err(|_| "the decoded body is not UTF-8".to_string())
}

/// The JSON text a request body carries, decoded as the collector would.
pub fn body_json(body: &str, fmt: BodyFormat) -> Result<String, String> {
    match fmt {
        BodyFormat::Form => {
            let data = body.strip_prefix("data=").ok_or("a form body must start with data=")?;
            percent_decode(data, true)
        }
        BodyFormat::Raw => percent_decode(body, false),
    }
}

/// Bytes of `s` as a JSON string literal written by the rules the library
/// documents: `"` and `\` escaped, control characters as `\n`-style or
/// `\u00XX` escapes, U+2028 / U+2029 as `\u2028` / `\u2029`, the rest as UTF-8.
pub fn json_str_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{08}' | '\u{0c}' => 2,
            '\u{2028}' | '\u{2029}' => 6,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The parts of an instant shifted by `offset_min` minutes east of UTC:
/// year, month, day, hour, minute, second, millisecond, weekday (Monday = 0).
pub fn parts(ms: i64, offset_min: i64) -> (i64, u32, u32, u32, u32, u32, u32, usize) {
    let local = ms + offset_min * 60_000;
    let days = local.div_euclid(86_400_000);
    let in_day = local.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let weekday = (days + 3).rem_euclid(7) as usize;
    (
        y,
        mo,
        d,
        (in_day / 3_600_000) as u32,
        (in_day / 60_000 % 60) as u32,
        (in_day / 1000 % 60) as u32,
        (in_day % 1000) as u32,
        weekday,
    )
}

/// `+hh:mm` (`colon`) or `+hhmm` for an offset in minutes east of UTC.
pub fn zone(offset_min: i64, colon: bool) -> String {
    let sign = if offset_min < 0 { '-' } else { '+' };
    let a = offset_min.abs();
    if colon {
        format!("{sign}{:02}:{:02}", a / 60, a % 60)
    } else {
        format!("{sign}{:02}{:02}", a / 60, a % 60)
    }
}

/// `yyyy-mm-ddThh:mm:ss.fffZ`.
pub fn iso_utc(ms: i64) -> String {
    let (y, mo, d, h, mi, s, f, _) = parts(ms, 0);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
}

/// Three-letter English day names, Monday first.
pub const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// Three-letter English month names.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
