//! Numbers as shadow 4.13 reads START and COUNT: `getulong`, that is `strtoul(field,
//! &end, 0)` that must consume the whole field without ERANGE (lib/getulong.c). newuidmap
//! decides what a map may use, so userns reads these fields exactly as it does (glibc, C
//! locale, 64-bit unsigned long), and `subid check` names every form that is not plain
//! decimal, since newer shadow reads only that.

/// How a field was written, when it is not plain decimal: what `subid check` warns of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusual {
    /// White space before the number (strtoul skips it).
    LeadingSpace,
    /// A `+` sign.
    Plus,
    /// A `-` sign: strtoul negates in unsigned arithmetic, `-1` is 2^64-1.
    Minus,
    /// `0x…`: hexadecimal.
    Hex,
    /// A leading `0`: octal (`010` is 8).
    Octal,
}

impl Unusual {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Unusual::LeadingSpace => "starts with white space, which shadow 4.13 skips",
            Unusual::Plus => "has a + sign",
            Unusual::Minus => {
                "has a - sign, which shadow 4.13 reads as 2^64 minus the number (-1 is 18446744073709551615)"
            }
            Unusual::Hex => "is hexadecimal (0x), which shadow 4.13 reads",
            Unusual::Octal => "has a leading 0, which shadow 4.13 reads as octal (010 is 8)",
        }
    }
}

/// `isspace` in the C locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value shadow 4.13 reads from a whole field, or None where it refuses the line;
/// with the first unusual form of writing it, if any.
pub(crate) fn getulong(field: &str) -> Option<(u64, Option<Unusual>)> {
    let b = field.as_bytes();
    let mut i = 0;
    let mut unusual = None;
    let mut note = |u: Unusual| {
        unusual.get_or_insert(u);
    };
    while i < b.len() && c_space(b[i]) {
        i += 1;
    }
    if i > 0 {
        note(Unusual::LeadingSpace);
    }
    let negative = match b.get(i) {
        Some(b'-') => {
            i += 1;
            note(Unusual::Minus);
            true
        }
        Some(b'+') => {
            i += 1;
            note(Unusual::Plus);
            false
        }
        _ => false,
    };
    // "0x" counts as a prefix only when a hex digit follows; else strtoul reads the "0"
    // and stops at the "x", which then fails the whole-field test.
    let radix = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
        note(Unusual::Hex);
        16
    } else if b.get(i) == Some(&b'0') && b.len() > i + 1 {
        note(Unusual::Octal);
        8
    } else {
        10
    };
    let digits = &field[i..];
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Too many digits for 64 bits is ERANGE: shadow refuses the line.
    let value = u64::from_str_radix(digits, radix).ok()?;
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some((value, unusual))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(field: &str) -> Option<u64> {
        getulong(field).map(|(v, _)| v)
    }

    #[test]
    fn plain_decimal_is_usual() {
        assert_eq!(getulong("100000"), Some((100000, None)));
        assert_eq!(getulong("0"), Some((0, None)));
        assert_eq!(v("18446744073709551615"), Some(u64::MAX));
        assert_eq!(v("18446744073709551616"), None);
    }

    #[test]
    fn forms_strtoul_takes() {
        assert_eq!(getulong("0x10"), Some((16, Some(Unusual::Hex))));
        assert_eq!(v("0XfF"), Some(255));
        assert_eq!(getulong("010"), Some((8, Some(Unusual::Octal))));
        assert_eq!(getulong("00"), Some((0, Some(Unusual::Octal))));
        assert_eq!(
            getulong(" \t\r\x0b\x0c20"),
            Some((20, Some(Unusual::LeadingSpace)))
        );
        assert_eq!(getulong("+7"), Some((7, Some(Unusual::Plus))));
        assert_eq!(getulong("-1"), Some((u64::MAX, Some(Unusual::Minus))));
        assert_eq!(v("-0"), Some(0));
        assert_eq!(v(" -0x10"), Some(16u64.wrapping_neg()));
    }

    #[test]
    fn forms_strtoul_refuses() {
        for bad in [
            "", " ", "+", "-", "0x", "0xg", "08", "09", "1 ", "1\r", "1x", "+-1", "--1", "0x-1",
            "1_000", "１", "0b1", "- 1",
        ] {
            assert_eq!(v(bad), None, "{bad:?}");
        }
    }
}
