//! What goes inside `${...}`: a reference (`inv.bolt11`, `i`), a literal, a
//! helper call or arithmetic. Pure; parsed in validation (so a run never
//! meets a syntax error), evaluated against the bindings at run time.
//!
//! ```text
//! expr  := sum
//! sum   := prod ((" + " | " - ") prod)*      operators need spaces around them:
//! prod  := atom ((" * " | " / ") atom)*      `a-b` is a key, `a - b` subtracts
//! atom  := NUMBER ["msat"] | 'text' | "text" | NAME "(" expr ("," expr)* ")"
//!        | "(" expr ")" | reference
//! ```
//!
//! Helpers are there for what bug reports contain: `hex('text')` (UTF-8
//! bytes as hex, e.g. an extra TLV's value), `repeat('ab', 350)` (a long
//! payload in one line), `len(x)` (characters of a string, entries of a
//! list or object), `count_where(list, 'field', 'value')` (elements whose
//! field is that value), `sum(list, 'field')` (an amount field added up over a
//! list, e.g. a saved `listfunds`' outputs). Arithmetic is on integers (amounts: `"1000msat"` strings
//! count as 1000), checked for overflow.

use super::path::{as_amount, Bindings, PathExpr, Selector};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Ref {
        root: String,
        path: PathExpr,
    },
    Int(i128),
    Str(String),
    Call {
        func: Func,
        args: Vec<Expr>,
    },
    Bin {
        op: char,
        left: Box<Expr>,
        right: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Hex,
    HexInt,
    BigSize,
    Repeat,
    Len,
    Sum,
    CountWhere,
}

impl Func {
    pub const ALL: &'static [(&'static str, Func, usize)] = &[
        ("hex", Func::Hex, 1),
        ("hex_int", Func::HexInt, 2),
        ("bigsize", Func::BigSize, 1),
        ("repeat", Func::Repeat, 2),
        ("len", Func::Len, 1),
        ("sum", Func::Sum, 2),
        ("count_where", Func::CountWhere, 3),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {}: {message}", offset + 1)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Parser<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            offset: self.pos,
            message: message.into(),
        })
    }
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }
    fn skip_ws(&mut self) {
        self.pos += self.rest().len() - self.rest().trim_start().len();
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// An operator counts only with whitespace before it (`a-b` is a key).
    fn operator(&mut self, ops: &[char]) -> Option<char> {
        let before_ws = self.rest().starts_with(char::is_whitespace)
            || self.text[..self.pos].ends_with(char::is_whitespace);
        self.skip_ws();
        let c = self.peek()?;
        let spaced_after = self.rest()[c.len_utf8()..].starts_with(char::is_whitespace);
        if ops.contains(&c) && before_ws && spaced_after {
            self.pos += c.len_utf8();
            self.skip_ws();
            Some(c)
        } else {
            None
        }
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.prod()?;
        while let Some(op) = self.operator(&['+', '-']) {
            let right = self.prod()?;
            left = Expr::Bin {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    fn prod(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.atom()?;
        while let Some(op) = self.operator(&['*', '/']) {
            let right = self.atom()?;
            left = Expr::Bin {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return self.err("expected a value");
        };
        if c == '(' {
            self.pos += 1;
            let e = self.sum()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return self.err("expected `)`");
            }
            self.pos += 1;
            return Ok(e);
        }
        if c == '\'' || c == '"' {
            let body = &self.rest()[1..];
            let Some(end) = body.find(c) else {
                return self.err(format!("unterminated {c}text{c}"));
            };
            let s = body[..end].to_string();
            self.pos += end + 2;
            return Ok(Expr::Str(s));
        }
        if c.is_ascii_digit() {
            let digits: String = self
                .rest()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '_')
                .collect();
            let n: i128 = match digits.replace('_', "").parse::<u64>() {
                Ok(n) => n.into(),
                Err(_) => return self.err("number too large (integers fit in 64 bits)"),
            };
            self.pos += digits.len();
            if self.rest().starts_with("msat") {
                self.pos += 4;
            }
            if self.peek().is_some_and(is_name_char) {
                return self.err("a number runs into a name");
            }
            return Ok(Expr::Int(n));
        }
        // A name: a helper call, or a reference with its path (keys may hold
        // `-`; selectors in `[...]` may hold anything but unbalanced brackets).
        let start = self.pos;
        let name: String = self
            .rest()
            .chars()
            .take_while(|c| is_name_char(*c) || *c == '-')
            .collect();
        if name.is_empty() {
            return self.err(format!("unexpected `{c}`"));
        }
        self.pos += name.len();
        if self.peek() == Some('(') {
            let Some(&(_, func, arity)) = Func::ALL.iter().find(|(n, _, _)| *n == name) else {
                let known: Vec<&str> = Func::ALL.iter().map(|(n, _, _)| *n).collect();
                self.pos = start;
                return self.err(format!(
                    "unknown helper `{name}` (helpers: {})",
                    known.join(", ")
                ));
            };
            self.pos += 1;
            let mut args = vec![self.sum()?];
            loop {
                self.skip_ws();
                match self.peek() {
                    Some(',') => {
                        self.pos += 1;
                        args.push(self.sum()?);
                    }
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.err("expected `,` or `)`"),
                }
            }
            if args.len() != arity {
                self.pos = start;
                return self.err(format!(
                    "`{name}` takes {arity} argument{}",
                    if arity == 1 { "" } else { "s" }
                ));
            }
            return Ok(Expr::Call { func, args });
        }
        // The path: `.key`, `[..]` with balanced brackets, until a space, `,` or `)`.
        let mut depth = 0usize;
        let mut end = self.pos;
        for (i, ch) in self.rest().char_indices() {
            match ch {
                '[' | '{' => depth += 1,
                ']' | '}' if depth > 0 => depth -= 1,
                c2 if depth == 0 && (c2.is_whitespace() || c2 == ',' || c2 == ')') => break,
                _ => {}
            }
            end = self.pos + i + ch.len_utf8();
        }
        let path_text = &self.text[self.pos..end];
        let path =
            PathExpr::parse(path_text.strip_prefix('.').unwrap_or(path_text)).map_err(|e| {
                ExprError {
                    offset: self.pos + e.offset,
                    message: e.message,
                }
            })?;
        if !path_text.is_empty() && !path_text.starts_with(['.', '[']) {
            return self.err(format!("expected `.` or `[` after `{name}`"));
        }
        self.pos = end;
        Ok(Expr::Ref { root: name, path })
    }
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut p = Parser { text, pos: 0 };
        let e = p.sum()?;
        p.skip_ws();
        if p.pos < text.len() {
            return p.err(format!(
                "unexpected `{}` (operators need spaces around them)",
                p.rest()
            ));
        }
        Ok(e)
    }

    /// The bound names this expression reads.
    pub fn roots(&self) -> Vec<&str> {
        match self {
            Expr::Ref { root, .. } => vec![root],
            Expr::Int(_) | Expr::Str(_) => vec![],
            Expr::Call { args, .. } => args.iter().flat_map(Expr::roots).collect(),
            Expr::Bin { left, right, .. } => {
                left.roots().into_iter().chain(right.roots()).collect()
            }
        }
    }

    /// The value, or why not (an unbound name, a missing field, a type that
    /// does not fit, an overflow). `selector` resolves `${...}` in a path's
    /// selectors (templating's `values::selector_value`).
    pub fn eval(&self, b: &Bindings, selector: Selector) -> Result<Value, String> {
        match self {
            Expr::Ref { root, path } => {
                let value = b.get(root).ok_or_else(|| {
                    format!(
                        "nothing is bound to `{root}` (bound: {})",
                        b.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })?;
                path.lookup_by(value, b, selector).cloned().ok_or_else(|| {
                    format!(
                        "`{root}` has no `{path}` (its value: {})",
                        crate::text::truncate(&value.to_string(), 200)
                    )
                })
            }
            Expr::Int(n) => Ok(int_json(*n)),
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Call { func, args } => {
                let args: Vec<Value> = args
                    .iter()
                    .map(|a| a.eval(b, selector))
                    .collect::<Result<_, _>>()?;
                match func {
                    Func::Hex => Ok(Value::String(hex::encode(text_of(&args[0]).as_bytes()))),
                    Func::HexInt => hex_int(&args[0], &args[1]).map(Value::String),
                    Func::BigSize => {
                        let n = unsigned(&args[0], "bigsize")?;
                        Ok(Value::String(hex::encode(bigsize(n))))
                    }
                    Func::Repeat => {
                        let n = integer(&args[1])
                            .filter(|n| (0..=1_000_000).contains(n))
                            .ok_or_else(|| {
                                format!("repeat: the count must be 0 to 1000000, got {}", args[1])
                            })?;
                        Ok(Value::String(text_of(&args[0]).repeat(n as usize)))
                    }
                    Func::Sum => {
                        let field =
                            PathExpr::parse(&text_of(&args[1])).map_err(|e| format!("sum: {e}"))?;
                        let list = args[0].as_array().ok_or_else(|| {
                            format!(
                                "sum: expected a list, got {}",
                                crate::text::truncate(&args[0].to_string(), 200)
                            )
                        })?;
                        let mut total: i128 = 0;
                        for e in list {
                            let v = field
                                .lookup_by(e, &Bindings::new(), selector)
                                .and_then(integer)
                                .ok_or_else(|| {
                                    format!(
                                        "sum: {} has no amount at `{field}`",
                                        crate::text::truncate(&e.to_string(), 200)
                                    )
                                })?;
                            total += v;
                        }
                        Ok(int_json(total.min(i128::from(u64::MAX))))
                    }
                    Func::CountWhere => {
                        let field = PathExpr::parse(&text_of(&args[1]))
                            .map_err(|e| format!("count_where: {e}"))?;
                        let want = text_of(&args[2]);
                        let list = args[0].as_array().ok_or_else(|| {
                            format!(
                                "count_where: expected a list, got {}",
                                crate::text::truncate(&args[0].to_string(), 200)
                            )
                        })?;
                        Ok(Value::from(
                            list.iter()
                                .filter(|e| {
                                    field
                                        .lookup_by(e, &Bindings::new(), selector)
                                        .is_some_and(|v| text_of(v) == want)
                                })
                                .count(),
                        ))
                    }
                    Func::Len => match &args[0] {
                        Value::String(s) => Ok(Value::from(s.chars().count())),
                        Value::Array(a) => Ok(Value::from(a.len())),
                        Value::Object(o) => Ok(Value::from(o.len())),
                        other => Err(format!("len: {other} has no length")),
                    },
                }
            }
            Expr::Bin { op, left, right } => {
                let (l, r) = (left.eval(b, selector)?, right.eval(b, selector)?);
                let (x, y) = match (integer(&l), integer(&r)) {
                    (Some(x), Some(y)) => (x, y),
                    _ => return Err(format!("`{op}` needs numbers or amounts, got {l} and {r}")),
                };
                let v = match op {
                    '+' => x.checked_add(y),
                    '-' => x.checked_sub(y),
                    '*' => x.checked_mul(y),
                    _ if y == 0 => return Err("division by zero".into()),
                    _ => x.checked_div(y),
                };
                // Results fit JSON's integers (i64 or u64), as amounts do.
                v.filter(|v| (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(v))
                    .map(int_json)
                    .ok_or_else(|| format!("{x} {op} {y} overflows"))
            }
        }
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A non-negative integer argument of `helper` that fits in 64 bits.
fn unsigned(v: &Value, helper: &str) -> Result<u64, String> {
    integer(v)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("{helper}: expected an integer from 0 to 2^64-1, got {v}"))
}

/// `hex_int(n, width)`: `n` big-endian in `width` bytes (1 to 8), as the
/// fixed-width fields of a hand-built message (`u16`, `u32`, `u64`);
/// `width` 0 writes a BOLT `tu64`, the minimal bytes with no leading zero.
fn hex_int(n: &Value, width: &Value) -> Result<String, String> {
    let n = unsigned(n, "hex_int")?;
    let width = integer(width)
        .filter(|w| (0..=8).contains(w))
        .ok_or_else(|| format!("hex_int: the width must be 0 (tu64) to 8 bytes, got {width}"))?
        as usize;
    let bytes = n.to_be_bytes();
    if width == 0 {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(8);
        return Ok(hex::encode(&bytes[first..]));
    }
    if width < 8 && n >> (8 * width) != 0 {
        return Err(format!("hex_int: {n} does not fit in {width} bytes"));
    }
    Ok(hex::encode(&bytes[8 - width..]))
}

/// BOLT #1's BigSize: a TLV record's type and length.
fn bigsize(n: u64) -> Vec<u8> {
    match n {
        0..=0xfc => vec![n as u8],
        0xfd..=0xffff => [&[0xfd][..], &(n as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[0xfe][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[0xff][..], &n.to_be_bytes()].concat(),
    }
}

fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        other => as_amount(other).map(i128::from),
    }
}

/// Callers keep `n` within i64/u64 (literals are u64, results are checked).
fn int_json(n: i128) -> Value {
    u64::try_from(n)
        .map(Value::from)
        .or_else(|_| i64::try_from(n).map(Value::from))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str) -> Result<Value, String> {
        let mut b = Bindings::new();
        b.insert(
            "inv".into(),
            json!({"amount_msat": 1000, "bolt11": "lnbcrt1", "routes": [{"scid": "1x2x3"}]}),
        );
        b.insert("i".into(), json!(3));
        b.insert("half".into(), json!("500msat"));
        b.insert(
            "amounts".into(),
            json!([{"amount_msat": 3000}, {"amount_msat": "500msat"}]),
        );
        b.insert("bob".into(), json!({"id": "02bb"}));
        b.insert("peers".into(), json!({"channels": [{"peer_id": "02aa", "state": "ONCHAIN"}, {"peer_id": "02bb", "state": "CHANNELD_NORMAL"}]}));
        Expr::parse(text)
            .map_err(|e| e.to_string())?
            .eval(&b, literal_selector)
    }

    /// Selectors compared as written: resolving `${...}` in one is
    /// templating's job (tested in `values`).
    fn literal_selector(value: &str, _: &Bindings) -> Option<String> {
        (!value.contains("${")).then(|| value.to_string())
    }

    #[test]
    fn references_keep_their_old_meaning() {
        assert_eq!(eval("inv.bolt11").unwrap(), json!("lnbcrt1"));
        assert_eq!(eval("inv.routes[0].scid").unwrap(), json!("1x2x3"));
        assert_eq!(eval("i").unwrap(), json!(3));
        assert!(eval("carol.id")
            .unwrap_err()
            .contains("nothing is bound to `carol`"));
    }

    #[test]
    fn helpers_for_what_bug_reports_contain() {
        assert_eq!(eval("hex('hi')").unwrap(), json!("6869"));
        // A hand-built TLV record: type, length, value.
        assert_eq!(eval("bigsize(252)").unwrap(), json!("fc"));
        assert_eq!(eval("bigsize(253)").unwrap(), json!("fd00fd"));
        assert_eq!(eval("bigsize(65536)").unwrap(), json!("fe00010000"));
        assert_eq!(
            eval("bigsize(4294967296)").unwrap(),
            json!("ff0000000100000000")
        );
        assert_eq!(eval("hex_int(1000, 8)").unwrap(), json!("00000000000003e8"));
        assert_eq!(eval("hex_int(1000, 2)").unwrap(), json!("03e8"));
        assert_eq!(eval("hex_int(1000, 0)").unwrap(), json!("03e8"));
        assert_eq!(eval("hex_int(0, 0)").unwrap(), json!(""));
        assert!(eval("hex_int(65536, 2)")
            .unwrap_err()
            .contains("does not fit in 2 bytes"));
        assert!(eval("hex_int(1, 9)").unwrap_err().contains("width"));
        assert!(eval("bigsize('x')").unwrap_err().contains("bigsize"));
        assert_eq!(eval("len(repeat('ab', 350))").unwrap(), json!(700));
        assert_eq!(eval("len(hex(repeat('x', 350)))").unwrap(), json!(700));
        assert_eq!(eval("len(inv.routes)").unwrap(), json!(1));
        assert_eq!(
            eval("sum(peers.channels, 'n')").unwrap_err(),
            "sum: {\"peer_id\":\"02aa\",\"state\":\"ONCHAIN\"} has no amount at `n`"
        );
        assert_eq!(eval("sum(amounts, 'amount_msat')").unwrap(), json!(3500));
        assert_eq!(
            eval("count_where(peers.channels, 'state', 'ONCHAIN')").unwrap(),
            json!(1)
        );
        assert!(eval("nope(1)")
            .unwrap_err()
            .contains("unknown helper `nope`"));
        assert!(eval("repeat('a')")
            .unwrap_err()
            .contains("takes 2 arguments"));
    }

    #[test]
    fn arithmetic_on_amounts() {
        assert_eq!(eval("inv.amount_msat * 2 + 1").unwrap(), json!(2001));
        assert_eq!(eval("inv.amount_msat - half").unwrap(), json!(500));
        assert_eq!(eval("(i + 1) * 1000msat").unwrap(), json!(4000));
        assert_eq!(eval("i - 5").unwrap(), json!(-2));
        assert!(eval("1 / 0").unwrap_err().contains("division by zero"));
        assert!(eval("inv.bolt11 + 1")
            .unwrap_err()
            .contains("needs numbers"));
        assert!(eval("18446744073709551615 * 2")
            .unwrap_err()
            .contains("overflows"));
        // Without spaces, `-` belongs to a key.
        assert!(eval("i-1")
            .unwrap_err()
            .contains("nothing is bound to `i-1`"));
        assert!(Expr::parse("99999999999999999999")
            .unwrap_err()
            .message
            .contains("too large"));
    }

    #[test]
    fn selectors_pick_an_element_by_a_field() {
        assert_eq!(
            eval("peers.channels[peer_id=02bb].state").unwrap(),
            json!("CHANNELD_NORMAL")
        );
        assert!(eval("peers.channels[peer_id=03cc].state").is_err());
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = Expr::parse("inv.amount_msat +").unwrap_err();
        assert!(
            e.message.contains("unexpected") || e.message.contains("expected a value"),
            "{e}"
        );
        assert!(Expr::parse("hex('abc'").is_err());
        assert!(Expr::parse("'open")
            .unwrap_err()
            .message
            .contains("unterminated"));
        assert!(Expr::parse("x[0]]").is_err());
    }
}
