//! Line protocol: the body of InfluxDB's `/write`, one point a line with
//! all the fields written at its instant.

use std::fmt::Write;

use crate::engine::series::Sample;
use crate::engine::value::Value;

/// Names (measurement, tag keys and values, field keys) escape only their
/// special characters: InfluxDB 1.x keeps a backslash there as it is.
fn escape(out: &mut String, text: &str, specials: &[char]) {
    for c in text.chars() {
        if specials.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Appends a field value; `None` when line protocol cannot carry it
/// (NaN or an infinity: InfluxDB keeps finite floats only).
fn field_value(out: &mut String, v: &Value) -> Option<()> {
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
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
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
pub fn encode(samples: &[Sample], measurement: &str, field_name: impl Fn(&str) -> String, max_bytes: usize) -> Result<Vec<String>, String> {
    let mut bodies = Vec::new();
    let mut body = String::new();
    let mut i = 0;
    while i < samples.len() {
        let first = &samples[i];
        let mut line = String::new();
        escape(&mut line, measurement, &[',', ' ']);
        for (k, v) in &first.series.tags {
            if v.is_empty() {
                continue;
            }
            line.push(',');
            escape(&mut line, k, &[',', '=', ' ']);
            line.push('=');
            escape(&mut line, v, &[',', '=', ' ']);
        }
        line.push(' ');
        let mut j = i;
        while j < samples.len() && samples[j].series == first.series && samples[j].time == first.time {
            if j > i {
                line.push(',');
            }
            escape(&mut line, &field_name(&samples[j].field), &[',', '=', ' ']);
            line.push('=');
            field_value(&mut line, &samples[j].value).ok_or_else(|| {
                format!("{} field {} at {} holds {}, which InfluxDB cannot store", first.series, samples[j].field, first.time, samples[j].value.display())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::series::Series;

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
        let bodies = encode(&samples, "cpu load", |f| f.to_string(), 1 << 20).unwrap();
        assert_eq!(bodies, [r#"cpu\ load,host=a\,b\=c\ d f=2.0,i=-3i,b=true,s="say \"hi\" \\ ok" 5"#.to_string() + "\n"]);
        let nan = encode(&[s("f", Value::Float(f64::NAN))], "cpu", |f| f.to_string(), 100).unwrap_err();
        assert!(nan.contains("cannot store"), "{nan}");
    }

    #[test]
    fn bodies_stay_under_the_byte_limit() {
        let samples: Vec<Sample> = (0..100)
            .map(|t| Sample { series: Series::new("m", []), field: "v".into(), time: t, value: Value::Int(t) })
            .collect();
        let bodies = encode(&samples, "m", |f| f.to_string(), 100).unwrap();
        assert!(bodies.len() > 5);
        assert!(bodies.iter().all(|b| b.len() <= 100));
        assert_eq!(bodies.iter().map(|b| b.lines().count()).sum::<usize>(), 100);
    }
}
