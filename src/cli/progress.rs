//! The progress bar on stderr (only when stderr is a terminal).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::progress::Progress;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar that draws only on a terminal and never when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let target = if !quiet && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{msg:30} [{bar:30}] {pos}/{len} ranges {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bar { bar }
    }
}

impl Progress for Bar {
    fn begin(&self, table: &str, top_ranges: u64) {
        self.bar.reset();
        self.bar.set_length(top_ranges);
        self.bar.set_message(table.to_string());
    }

    fn advance(&self, done: u64, differences: u64) {
        self.bar.inc(done);
        if differences > 0 {
            let table = self.bar.message();
            let name = table.split(" (").next().unwrap_or_default().to_string();
            self.bar.set_message(format!("{name} ({differences} differ)"));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
