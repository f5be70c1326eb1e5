//! insta snapshots of what people read: the text report and `--help`.

mod common;

use common::*;
use tempfile::TempDir;

fn stable(text: &str, dir: &std::path::Path) -> String {
    text.replace(&dir.display().to_string(), "[dir]")
}

fn filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"in \d+\.\d+s", "in [elapsed]");
    settings
}

#[tokio::test]
async fn text_report_of_diff_and_sync() {
    let dir = TempDir::new().unwrap();
    let (s, t) = shop_pair(dir.path()).await;
    let diff = rangesync(&["diff", &url(&s), &url(&t)]);
    let sync = rangesync(&["sync", &url(&s), &url(&t), "--delete"]);
    let after = rangesync(&["diff", &url(&s), &url(&t)]);
    filters().bind(|| {
        insta::assert_snapshot!("diff_text", stable(&diff.stdout, dir.path()));
        insta::assert_snapshot!("sync_text", stable(&sync.stdout, dir.path()));
        insta::assert_snapshot!("diff_after_sync_text", stable(&after.stdout, dir.path()));
    });
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", rangesync(&["--help"]).stdout);
    insta::assert_snapshot!("diff_help", rangesync(&["diff", "--help"]).stdout);
    insta::assert_snapshot!("sync_help", rangesync(&["sync", "--help"]).stdout);
    insta::assert_snapshot!("schema_help", rangesync(&["schema", "--help"]).stdout);
    insta::assert_snapshot!("copy_help", rangesync(&["copy", "--help"]).stdout);
}
