//! The docs are checked against the code: every long flag of every command
//! (read from clap's definition) and every profile key (read from the
//! profile parser's own list of fields) must appear in README.md or docs/.
//! A flag or key added without a word for users fails the suite.

use std::path::Path;

use clap::CommandFactory;

use super::args::Cli;
use super::profile::{MeasurementRuleFile, ProfileFile, TableRuleFile, WatchFile};

fn docs() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("README.md")).unwrap();
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            text.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    text
}

/// Every `--flag` of `command` and its subcommands, with the command path.
fn flags(command: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    for arg in command.get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        if let Some(long) = arg.get_long() {
            if long != "help" && long != "version" {
                out.push((path.to_string(), format!("--{long}")));
            }
        }
    }
    for sub in command.get_subcommands() {
        flags(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// The fields serde accepts for `T`: the list its unknown-field error gives.
fn fields<T: serde::de::DeserializeOwned + std::fmt::Debug>(section: &str) -> Vec<String> {
    let text = format!("{section}no_such_key_for_the_docs_check = 1\n");
    let message = toml::from_str::<T>(&text).unwrap_err().to_string();
    let expected = message.split("expected one of ").nth(1).unwrap_or_else(|| panic!("no field list in: {message}"));
    expected.lines().next().unwrap().split(", ").map(|f| f.trim().trim_matches('`').to_string()).collect()
}

#[test]
fn every_flag_is_documented() {
    let docs = docs();
    let mut all = Vec::new();
    flags(&Cli::command(), "rangesync", &mut all);
    assert!(all.len() > 20, "clap's flags were not read: {all:?}");
    let missing: Vec<_> = all.iter().filter(|(_, flag)| !docs.contains(flag.as_str())).collect();
    assert!(missing.is_empty(), "flags no document mentions (README.md, docs/*.md): {missing:?}");
}

#[test]
fn every_profile_key_is_documented() {
    let profiles = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/profiles.md")).unwrap()
        + &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/watch.md")).unwrap();
    let keys = [
        ("top level", fields::<ProfileFile>("")),
        ("[[tables]]", fields::<WrapTables>("[[tables]]\n")),
        ("[[measurements]]", fields::<WrapMeasurements>("[[measurements]]\n")),
        ("[watch]", fields::<WrapWatch>("[watch]\n")),
    ];
    let mut missing = Vec::new();
    for (section, names) in &keys {
        assert!(!names.is_empty(), "{section}: no keys read");
        for name in names {
            // Written as a key: `name =` in an example, `name` in a table
            // of keys, or a section: `[name]`, `[[name]]`.
            let spellings = [format!("{name} ="), format!("`{name}`"), format!("[{name}]")];
            if !spellings.iter().any(|s| profiles.contains(s.as_str())) {
                missing.push(format!("{section} {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "profile keys docs/profiles.md and docs/watch.md do not mention: {missing:?}");
}

// A section's fields are reported by serde for the section's own type:
// wrappers put the bogus key inside the section.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct WrapTables {
    tables: Vec<TableRuleFile>,
}
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct WrapMeasurements {
    measurements: Vec<MeasurementRuleFile>,
}
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct WrapWatch {
    watch: WatchFile,
}
