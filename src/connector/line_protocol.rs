//! Line protocol: the body of InfluxDB's `/write` and the content of dump
//! files, one point a line with all the fields written at its instant.

use std::fmt::Write;

use crate::engine::series::{Sample, Series};
use crate::engine::value::Value;

/// Which line protocol is written. InfluxDB 1.x keeps a backslash in a
/// name as it is (it escapes only the special characters that follow it),
/// and a newline inside a quoted string raw; a dump file must read back
/// exactly whatever it holds, so it also escapes backslashes, newlines and
/// carriage returns (`\\`, `\n`, `\r`), everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Influx,
    Dump,
}

/// Escapes a name (measurement, tag key or value, field key).
fn escape(out: &mut String, text: &str, specials: &[char], dialect: Dialect) {
    for c in text.chars() {
        match (dialect, c) {
            (Dialect::Dump, '\\') => out.push_str("\\\\"),
            (Dialect::Dump, '\n') => out.push_str("\\n"),
            (Dialect::Dump, '\r') => out.push_str("\\r"),
            _ => {
                if specials.contains(&c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
}

/// Appends a field value; `None` when line protocol cannot carry it
/// (NaN or an infinity: InfluxDB keeps finite floats only).
fn field_value(out: &mut String, v: &Value, dialect: Dialect) -> Option<()> {
    match v {
        Value::Float(f) if f.is_finite() => {
            // `{:?}` keeps a fraction or exponent (2.0, 1e21): read back as a float.
            let _ = write!(out, "{f:?}");
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}i");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}u");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Text(s) => {
            out.push('"');
            for c in s.chars() {
                match (dialect, c) {
                    (Dialect::Dump, '\n') => out.push_str("\\n"),
                    (Dialect::Dump, '\r') => out.push_str("\\r"),
                    (_, '"' | '\\') => {
                        out.push('\\');
                        out.push(c);
                    }
                    _ => out.push(c),
                }
            }
            out.push('"');
        }
        _ => return None,
    }
    Some(())
}

/// Encodes samples as lines, one per (series, instant) run of consecutive
/// samples, into bodies of about `max_bytes`. `field_name` maps the
/// engine's field name to InfluxDB's. Errors name the first value that
/// cannot be written.
pub fn encode(samples: &[Sample], measurement: &str, field_name: impl Fn(&str) -> String, max_bytes: usize, dialect: Dialect) -> Result<Vec<String>, String> {
    let mut bodies = Vec::new();
    let mut body = String::new();
    let mut i = 0;
    while i < samples.len() {
        let first = &samples[i];
        let mut line = String::new();
        escape(&mut line, measurement, &[',', ' '], dialect);
        for (k, v) in &first.series.tags {
            if v.is_empty() {
                continue;
            }
            line.push(',');
            escape(&mut line, k, &[',', '=', ' '], dialect);
            line.push('=');
            escape(&mut line, v, &[',', '=', ' '], dialect);
        }
        line.push(' ');
        let mut j = i;
        while j < samples.len() && samples[j].series == first.series && samples[j].time == first.time {
            if j > i {
                line.push(',');
            }
            escape(&mut line, &field_name(&samples[j].field), &[',', '=', ' '], dialect);
            line.push('=');
            field_value(&mut line, &samples[j].value, dialect).ok_or_else(|| {
                format!("{} field {} at {} holds {}, which line protocol cannot carry", first.series, samples[j].field, first.time, samples[j].value.display())
            })?;
            j += 1;
        }
        let _ = writeln!(line, " {}", first.time);
        if !body.is_empty() && body.len() + line.len() > max_bytes {
            bodies.push(std::mem::take(&mut body));
        }
        body.push_str(&line);
        i = j;
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    Ok(bodies)
}


/// One parsed line: a series at one instant with its fields.
#[derive(Debug, PartialEq)]
pub struct Point {
    pub series: Series,
    pub time: i64,
    pub fields: Vec<(String, Value)>,
}

/// Parses one line as [`encode`] writes it in [`Dialect::Dump`] (values as
/// InfluxDB reads them too: `t`, `T`, `True`, `FALSE` for booleans, `i`
/// and `u` suffixes for integers). A tag with an empty value is no tag, as
/// [`encode`] writes none. Errors say what is wrong in a few words; the
/// caller names the line.
pub fn parse(line: &str) -> Result<Point, String> {
    let mut cur = Cursor { rest: line };
    let measurement = cur.name(&[',', ' '])?;
    if measurement.is_empty() {
        return Err("the line has no measurement".into());
    }
    let mut tags = Vec::new();
    while cur.eat(',') {
        let key = cur.name(&['=', ',', ' '])?;
        if !cur.eat('=') || key.is_empty() {
            return Err(format!("tag '{key}' has no value (write key=value)"));
        }
        let value = cur.name(&[',', ' '])?;
        if !value.is_empty() {
            tags.push((key, value));
        }
    }
    if !cur.eat(' ') {
        return Err("the line has no fields".into());
    }
    let mut fields = Vec::new();
    loop {
        let key = cur.name(&['=', ',', ' '])?;
        if !cur.eat('=') || key.is_empty() {
            return Err(format!("field '{key}' has no value (write key=value)"));
        }
        fields.push((key.clone(), cur.value().map_err(|e| format!("field '{key}': {e}"))?));
        if !cur.eat(',') {
            break;
        }
    }
    if !cur.eat(' ') {
        return Err(if cur.rest.is_empty() { "the line has no timestamp".into() } else { format!("unexpected '{}' after the fields", cur.rest) });
    }
    let time = cur.rest.trim_end_matches('\r');
    let time = time.parse::<i64>().map_err(|_| format!("'{time}' is not a timestamp in nanoseconds"))?;
    Ok(Point { series: Series::new(measurement, tags), time, fields })
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// A name up to the first unescaped `stops`. `\\`, `\n` and `\r`
    /// are a backslash, a newline and a carriage return, a backslash before
    /// a special character is that character; before anything else it is
    /// kept.
    fn name(&mut self, stops: &[char]) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                if let Some(&(_, next)) = chars.peek() {
                    let unescaped = match next {
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        '\\' | ',' | '=' | ' ' => Some(next),
                        _ if stops.contains(&next) => Some(next),
                        _ => None,
                    };
                    if let Some(u) = unescaped {
                        out.push(u);
                        chars.next();
                        continue;
                    }
                }
                out.push(c);
            } else if stops.contains(&c) {
                self.rest = &self.rest[i..];
                return Ok(out);
            } else {
                out.push(c);
            }
        }
        self.rest = "";
        Ok(out)
    }

    fn value(&mut self) -> Result<Value, String> {
        if self.eat('"') {
            let mut out = String::new();
            let mut chars = self.rest.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => out.push(e),
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 'r')) => out.push('\r'),
                        Some((_, e)) => {
                            out.push('\\');
                            out.push(e);
                        }
                        None => break,
                    },
                    '"' => {
                        self.rest = &self.rest[i + 1..];
                        return Ok(Value::Text(out));
                    }
                    _ => out.push(c),
                }
            }
            return Err("a string value has no closing quote".into());
        }
        let end = self.rest.find([',', ' ']).unwrap_or(self.rest.len());
        let raw = &self.rest[..end];
        self.rest = &self.rest[end..];
        let bad = || format!("'{raw}' is not a value (a float, 1i, 1u, true, false or \"text\")");
        match raw {
            "t" | "T" | "true" | "True" | "TRUE" => Ok(Value::Bool(true)),
            "f" | "F" | "false" | "False" | "FALSE" => Ok(Value::Bool(false)),
            _ if raw.ends_with('i') => raw[..raw.len() - 1].parse().map(Value::Int).map_err(|_| bad()),
            _ if raw.ends_with('u') => raw[..raw.len() - 1].parse().map(Value::UInt).map_err(|_| bad()),
            _ => match raw.parse::<f64>() {
                Ok(f) if f.is_finite() && !raw.is_empty() && !raw.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => Ok(Value::Float(f)),
                _ => Err(bad()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_escape_what_line_protocol_needs_and_keep_types() {
        let series = Series::new("cpu load", [("host".to_string(), "a,b=c d".to_string())]);
        let s = |field: &str, value: Value| Sample { series: series.clone(), field: field.into(), time: 5, value };
        let samples = vec![
            s("f", Value::Float(2.0)),
            s("i", Value::Int(-3)),
            s("b", Value::Bool(true)),
            s("s", Value::Text("say \"hi\" \\ ok".into())),
        ];
        let bodies = encode(&samples, "cpu load", |f| f.to_string(), 1 << 20, Dialect::Influx).unwrap();
        assert_eq!(bodies, [r#"cpu\ load,host=a\,b\=c\ d f=2.0,i=-3i,b=true,s="say \"hi\" \\ ok" 5"#.to_string() + "\n"]);
        let nan = encode(&[s("f", Value::Float(f64::NAN))], "cpu", |f| f.to_string(), 100, Dialect::Influx).unwrap_err();
        assert!(nan.contains("cannot carry"), "{nan}");
    }

    #[test]
    fn bodies_stay_under_the_byte_limit() {
        let samples: Vec<Sample> = (0..100)
            .map(|t| Sample { series: Series::new("m", []), field: "v".into(), time: t, value: Value::Int(t) })
            .collect();
        let bodies = encode(&samples, "m", |f| f.to_string(), 100, Dialect::Influx).unwrap();
        assert!(bodies.len() > 5);
        assert!(bodies.iter().all(|b| b.len() <= 100));
        assert_eq!(bodies.iter().map(|b| b.lines().count()).sum::<usize>(), 100);
    }

    #[test]
    fn what_encode_writes_parse_reads_back() {
        let series = Series::new("cpu load\\", [("host".to_string(), "a,b=c d\\".to_string()), ("dc".to_string(), "ü\\x\nnew line\r".to_string())]);
        let s = |field: &str, value: Value| Sample { series: series.clone(), field: field.into(), time: -5, value };
        let samples = vec![
            s("b", Value::Bool(false)),
            s("f", Value::Float(-0.0)),
            s("g", Value::Float(1e21)),
            s("i", Value::Int(i64::MIN)),
            s("s", Value::Text("say \"hi\" \\ ok, a=b\nline two\\n".into())),
            s("u", Value::UInt(u64::MAX)),
            s("x y", Value::Text(String::new())),
        ];
        let body = encode(&samples, "cpu load\\", |f| f.to_string(), 1 << 20, Dialect::Dump).unwrap().concat();
        assert_eq!(body.lines().count(), 1, "newlines escaped: {body}");
        let p = parse(body.trim_end()).unwrap();
        assert_eq!(p.series, series);
        assert_eq!(p.time, -5);
        let back: Vec<(String, Value)> = samples.iter().map(|s| (s.field.clone(), s.value.clone())).collect();
        assert_eq!(p.fields, back);
        assert!(matches!(p.fields[1].1, Value::Float(f) if f.is_sign_negative()));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let err = |l: &str| parse(l).unwrap_err();
        assert!(err("cpu").contains("no fields"), "{}", err("cpu"));
        assert!(err("cpu v=1").contains("no timestamp"));
        assert!(err("cpu v=1 12x").contains("not a timestamp"));
        assert!(err("cpu,host v=1 1").contains("tag 'host' has no value"));
        assert!(err("cpu v=abc 1").contains("'abc' is not a value"));
        assert!(err("cpu v=\"open 1").contains("no closing quote"));
        assert!(err("cpu v=1i2 1").contains("not a value"));
        assert!(err("cpu v=nan 1").contains("not a value"));
        assert!(err(" v=1 1").contains("no measurement"));
        assert_eq!(parse("m,a=1 t=T,n=2u 7").unwrap().fields, vec![("t".into(), Value::Bool(true)), ("n".into(), Value::UInt(2))]);
        assert_eq!(parse("m,a=,b=1 v=1 7").unwrap().series, Series::new("m", [("b".to_string(), "1".to_string())]), "an empty tag is no tag");
    }
}
